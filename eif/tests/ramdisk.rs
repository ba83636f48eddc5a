//! `signet-eif cpio`: deterministic newc ramdisks, read back by GNU cpio
//! (an independent reader) and by the kernel in `scripts/test-image.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Stdio};

fn cpio_tool(dir: &Path, manifest: &str, out: &str) -> std::process::Output {
    std::fs::write(dir.join("manifest"), manifest).unwrap();
    Command::new(env!("CARGO_BIN_EXE_signet-eif"))
        .args(["cpio", "--manifest"])
        .arg(dir.join("manifest"))
        .arg("--output")
        .arg(dir.join(out))
        .output()
        .unwrap()
}

fn gnu_cpio(args: &[&str], archive: &Path, cwd: &Path) -> String {
    let out = Command::new("cpio")
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::from(std::fs::File::open(archive).unwrap()))
        .output()
        .expect("GNU cpio (scripts/test-deps.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const MANIFEST: &str = "\
# unsorted on purpose
file /init files/init 0500
dir /etc/signet 0755
file /etc/signet/signer.conf files/signer.conf 0444
dir /etc 0755
nod /dev/console 0600 c 5 1
dir /dev 0755
dir /tmp 1777
";

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("files")).unwrap();
    std::fs::write(dir.path().join("files/init"), b"\x7fELF pretend init").unwrap();
    std::fs::write(dir.path().join("files/signer.conf"), b"deployment=signet\n").unwrap();
    dir
}

#[test]
fn gnu_cpio_reads_back_sorted_root_owned_entries_of_time_zero() {
    let dir = setup();
    let out = cpio_tool(dir.path(), MANIFEST, "r.cpio");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = gnu_cpio(
        &["-itv", "--quiet", "--numeric-uid-gid"],
        &dir.path().join("r.cpio"),
        dir.path(),
    );
    let rows: Vec<Vec<&str>> = listing
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| *r.last().unwrap()).collect();
    assert_eq!(
        names,
        [
            "dev",
            "dev/console",
            "etc",
            "etc/signet",
            "etc/signet/signer.conf",
            "init",
            "tmp"
        ]
    );
    let modes: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    assert_eq!(
        modes,
        [
            "drwxr-xr-x",
            "crw-------",
            "drwxr-xr-x",
            "drwxr-xr-x",
            "-r--r--r--",
            "-r-x------",
            "drwxrwxrwt"
        ]
    );
    for r in &rows {
        assert_eq!((r[2], r[3]), ("0", "0"), "uid/gid 0: {r:?}");
        assert!(r.contains(&"1970"), "mtime 0: {r:?}");
    }
    // The files come back byte for byte.
    let extract = dir.path().join("x");
    std::fs::create_dir(&extract).unwrap();
    let no_node = MANIFEST.replace("nod /dev/console 0600 c 5 1\n", "");
    assert!(cpio_tool(dir.path(), &no_node, "n.cpio").status.success());
    gnu_cpio(
        &["-idm", "--quiet", "--no-absolute-filenames"],
        &dir.path().join("n.cpio"),
        &extract,
    );
    assert_eq!(
        std::fs::read(extract.join("init")).unwrap(),
        b"\x7fELF pretend init"
    );
    assert_eq!(
        std::fs::read(extract.join("etc/signet/signer.conf")).unwrap(),
        b"deployment=signet\n"
    );
}

#[test]
fn equal_manifests_and_contents_give_equal_bytes() {
    let dir = setup();
    assert!(cpio_tool(dir.path(), MANIFEST, "a.cpio").status.success());
    // Another order in the manifest, other timestamps and permissions on disk.
    let reordered: String = MANIFEST.lines().rev().map(|l| format!("{l}\n")).collect();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(dir.path().join("files/init"), b"\x7fELF pretend init").unwrap();
    std::process::Command::new("chmod")
        .arg("0600")
        .arg(dir.path().join("files/init"))
        .status()
        .unwrap();
    assert!(cpio_tool(dir.path(), &reordered, "b.cpio").status.success());
    assert_eq!(
        std::fs::read(dir.path().join("a.cpio")).unwrap(),
        std::fs::read(dir.path().join("b.cpio")).unwrap()
    );
    // A changed byte is a changed archive.
    std::fs::write(dir.path().join("files/init"), b"\x7fELF pretend inis").unwrap();
    assert!(cpio_tool(dir.path(), MANIFEST, "c.cpio").status.success());
    assert_ne!(
        std::fs::read(dir.path().join("a.cpio")).unwrap(),
        std::fs::read(dir.path().join("c.cpio")).unwrap()
    );
}

#[test]
fn refuses_a_manifest_with_an_unlisted_directory_or_a_missing_file() {
    let dir = setup();
    let out = cpio_tool(dir.path(), "file /etc/x files/init 0444\n", "a.cpio");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("its directory /etc is not listed"));
    let out = cpio_tool(dir.path(), "file /x files/absent 0444\n", "b.cpio");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("files/absent"));
    let out = cpio_tool(
        dir.path(),
        "file /x ../files/init 0444\nsymlink /y /x 0777\n",
        "c.cpio",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
}
