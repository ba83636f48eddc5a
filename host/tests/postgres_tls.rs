//! TLS to PostgreSQL as RDS needs it (`sslmode=verify-full` with a CA file):
//! a private PostgreSQL server of this test's own (initdb, `ssl=on` with a
//! certificate from a test CA), and `signet-host admin` connecting through
//! `SIGNET_DATABASE_URL` — accepted with the right CA, refused with another
//! CA, refused in plain text when the server requires TLS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{eventually, free_port, host_binary, issued_for_localhost, self_signed};

/// The PostgreSQL server binaries (Debian's layout), if installed.
fn pg_bin() -> Option<PathBuf> {
    let versions = std::fs::read_dir("/usr/lib/postgresql").ok()?;
    let mut dirs: Vec<PathBuf> = versions
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// As the `postgres` user (the server refuses to run as root). `setpriv`
/// execs the program itself, so the child handle is the server's process.
fn as_postgres(program: &Path) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=postgres",
        "--regid=postgres",
        "--init-groups",
        "--",
    ])
    .arg(program);
    cmd
}

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        // Immediate shutdown: the postmaster stops its backends, then exits.
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let exited = eventually(Duration::from_secs(10), || {
            self.child.try_wait().ok().flatten().is_some()
        });
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn start_server(bin: &Path, dir: &Path) -> Server {
    let data = dir.join("pgdata");
    let ok = as_postgres(&bin.join("initdb"))
        .args(["-D"])
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "initdb");
    // TLS only over TCP: a plain-text host connection is refused.
    std::fs::write(
        data.join("pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n",
    )
    .unwrap();
    let port = free_port();
    let child = as_postgres(&bin.join("postgres"))
        .arg("-D")
        .arg(&data)
        .args([
            "-p",
            &port.to_string(),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
        ])
        .arg(format!("unix_socket_directories={}", dir.display()))
        .args(["-c", "ssl=on", "-c"])
        .arg(format!(
            "ssl_cert_file={}",
            dir.join("server.pem").display()
        ))
        .arg("-c")
        .arg(format!("ssl_key_file={}", dir.join("server.key").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("pg.log")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let server = Server { child, port };
    assert!(
        eventually(Duration::from_secs(30), || {
            Command::new(bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                .status()
                .is_ok_and(|s| s.success())
        }),
        "the test PostgreSQL did not start: {}",
        std::fs::read_to_string(dir.join("pg.log")).unwrap_or_default()
    );
    server
}

fn admin_list(url: &str) -> std::process::Output {
    Command::new(host_binary())
        .args(["admin", "list-clients"])
        .env("SIGNET_DATABASE_URL", url)
        .env("SIGNET_LOG", "warn")
        .output()
        .unwrap()
}

#[test]
fn verify_full_with_a_ca_file_connects_and_anything_weaker_is_refused() {
    let Some(bin) = pg_bin() else {
        assert!(
            std::env::var("SIGNET_REQUIRE_POSTGRES").is_err(),
            "SIGNET_REQUIRE_POSTGRES is set but no PostgreSQL server binaries are installed"
        );
        eprintln!("SKIPPED: no PostgreSQL server binaries under /usr/lib/postgresql");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    issued_for_localhost(dir, "ca", "server");
    self_signed(dir, "other-ca", "other-ca", &[]);
    // The server (running as postgres) reads its key (0600) and the directory.
    let ok = Command::new("chown")
        .args(["-R", "postgres"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(ok.success());
    std::fs::set_permissions(
        dir.join("server.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let server = start_server(&bin, dir);
    let url = |params: &str| {
        format!(
            "postgres://postgres@localhost:{}/postgres?{params}",
            server.port
        )
    };
    let good = admin_list(&url(&format!(
        "sslmode=verify-full&sslrootcert={}",
        dir.join("ca.pem").display()
    )));
    assert!(
        good.status.success(),
        "verify-full with the right CA: {}",
        String::from_utf8_lossy(&good.stderr)
    );
    let wrong_ca = admin_list(&url(&format!(
        "sslmode=verify-full&sslrootcert={}",
        dir.join("other-ca.pem").display()
    )));
    assert!(
        !wrong_ca.status.success(),
        "a server certificate from another CA was accepted"
    );
    let plain = admin_list(&url("sslmode=disable"));
    assert!(
        !plain.status.success(),
        "a plain-text connection was accepted"
    );
}
