//! Deterministic newc cpio ramdisks from a manifest.
//!
//! The manifest takes the form of the kernel's `usr/gen_init_cpio` lists,
//! without owners (every entry is uid 0, gid 0):
//!
//! ```text
//! dir  /dev            0755
//! nod  /dev/console    0600 c 5 1
//! file /init           target/…/signet-init 0500
//! ```
//!
//! Entries are written sorted by their path (so a directory precedes what
//! it holds), with inode numbers 1, 2, … in that order, mtime 0, nlink 1 (2
//! for a directory), the given permission bits and nothing from the build
//! machine: equal manifests and file contents give equal bytes. Paths are
//! absolute in the manifest and stored without the leading `/`, as the
//! kernel's own tools store them; every parent directory must be listed.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::EifError;

/// One manifest entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Dir,
    File(PathBuf),
    CharDevice { major: u32, minor: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    kind: Kind,
    mode: u32,
}

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFCHR: u32 = 0o020_000;

/// The manifest's entries by path (without the leading `/`).
#[derive(Debug, Default)]
pub struct Manifest {
    entries: BTreeMap<String, Entry>,
}

fn parse_mode(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 4 {
        return None;
    }
    u32::from_str_radix(s, 8).ok().filter(|m| *m <= 0o7777)
}

fn parse_path(s: &str) -> Option<String> {
    let rest = s.strip_prefix('/')?;
    let ok = !rest.is_empty()
        && rest
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+/".contains(&b));
    ok.then(|| rest.to_owned())
}

impl Manifest {
    /// Parses a manifest; relative source paths are taken from `base`.
    /// Refuses unknown entry types, malformed paths (relative, `..`, odd
    /// characters), modes beyond `7777`, a path given twice, and an entry
    /// whose parent directory is not listed.
    pub fn parse(text: &str, origin: &Path, base: &Path) -> Result<Self, EifError> {
        let mut entries = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let bad = |reason: &str| EifError::Manifest {
                path: origin.to_owned(),
                line,
                reason: reason.to_owned(),
            };
            let words: Vec<&str> = raw.split_whitespace().collect();
            let (path, entry) = match words.as_slice() {
                [] => continue,
                [first, ..] if first.starts_with('#') => continue,
                ["dir", path, mode] => (
                    path,
                    Entry {
                        kind: Kind::Dir,
                        mode: parse_mode(mode).ok_or_else(|| bad("mode is not octal 0-7777"))?,
                    },
                ),
                ["file", path, source, mode] => (
                    path,
                    Entry {
                        kind: Kind::File(base.join(source)),
                        mode: parse_mode(mode).ok_or_else(|| bad("mode is not octal 0-7777"))?,
                    },
                ),
                ["nod", path, mode, "c", major, minor] => (
                    path,
                    Entry {
                        kind: Kind::CharDevice {
                            major: major.parse().map_err(|_| bad("major is not a number"))?,
                            minor: minor.parse().map_err(|_| bad("minor is not a number"))?,
                        },
                        mode: parse_mode(mode).ok_or_else(|| bad("mode is not octal 0-7777"))?,
                    },
                ),
                _ => {
                    return Err(bad(
                        "expected `dir PATH MODE`, `file PATH SOURCE MODE` or `nod PATH MODE c MAJOR MINOR`",
                    ))
                }
            };
            let path = parse_path(path)
                .ok_or_else(|| bad("the path is not absolute, or holds `..`, `.`, `//` or characters outside A-Za-z0-9._-+"))?;
            if entries.insert(path, entry).is_some() {
                return Err(bad("this path is listed twice"));
            }
        }
        for path in entries.keys() {
            if let Some((parent, _)) = path.rsplit_once('/') {
                if !matches!(
                    entries.get(parent),
                    Some(Entry {
                        kind: Kind::Dir,
                        ..
                    })
                ) {
                    return Err(EifError::Manifest {
                        path: origin.to_owned(),
                        line: 0,
                        reason: format!("/{path}: its directory /{parent} is not listed"),
                    });
                }
            }
        }
        Ok(Self { entries })
    }

    /// Writes the archive (entries sorted by path, then the trailer).
    pub fn write(&self, output: &Path) -> Result<(), EifError> {
        let io = |e| EifError::io(output, e);
        let mut out = Vec::new();
        for (ino, (name, entry)) in (1u32..).zip(&self.entries) {
            let builder = cpio::newc::Builder::new(name)
                .ino(ino)
                .uid(0)
                .gid(0)
                .mtime(0);
            match &entry.kind {
                Kind::Dir => {
                    builder
                        .mode(S_IFDIR | entry.mode)
                        .nlink(2)
                        .write(&mut out, 0)
                        .finish()
                        .map_err(io)?;
                }
                Kind::CharDevice { major, minor } => {
                    builder
                        .mode(S_IFCHR | entry.mode)
                        .rdev_major(*major)
                        .rdev_minor(*minor)
                        .write(&mut out, 0)
                        .finish()
                        .map_err(io)?;
                }
                Kind::File(source) => {
                    let meta = std::fs::metadata(source).map_err(|e| EifError::io(source, e))?;
                    if !meta.is_file() {
                        return Err(EifError::NotAFile {
                            path: source.clone(),
                        });
                    }
                    let bytes = std::fs::read(source).map_err(|e| EifError::io(source, e))?;
                    let size = u32::try_from(bytes.len()).map_err(|_| {
                        EifError::io(
                            source,
                            std::io::Error::other("larger than a newc archive holds (4 GiB)"),
                        )
                    })?;
                    let mut writer = builder
                        .mode(S_IFREG | entry.mode)
                        .nlink(1)
                        .write(&mut out, size);
                    writer.write_all(&bytes).map_err(io)?;
                    writer.finish().map_err(io)?;
                }
            }
        }
        cpio::newc::trailer(&mut out).map_err(io)?;
        std::fs::write(output, out).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str) -> Result<Manifest, EifError> {
        Manifest::parse(text, Path::new("m"), Path::new("/src"))
    }

    fn line_of(e: EifError) -> usize {
        match e {
            EifError::Manifest { line, .. } => line,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn entries_are_sorted_and_relative_sources_taken_from_the_base() {
        let m =
            parse("file /init out/init 0500\ndir /dev 0755\n# c\n\nnod /dev/console 0600 c 5 1\n")
                .unwrap();
        let names: Vec<&str> = m.entries.keys().map(String::as_str).collect();
        assert_eq!(names, ["dev", "dev/console", "init"]);
        assert_eq!(
            m.entries["init"].kind,
            Kind::File(PathBuf::from("/src/out/init"))
        );
    }

    #[test]
    fn refuses_an_unknown_entry() {
        assert_eq!(
            line_of(parse("dir /a 0755\nslink /a/b /x 0777\n").unwrap_err()),
            2
        );
        assert_eq!(line_of(parse("pipe /p 0600\n").unwrap_err()), 1);
    }

    #[test]
    fn refuses_a_bad_mode() {
        for mode in ["755x", "8", "17777", ""] {
            assert!(parse(&format!("dir /a {mode}\n")).is_err(), "{mode}");
        }
    }

    #[test]
    fn refuses_a_bad_path() {
        for path in [
            "a", "/", "/a/../b", "/a//b", "/a/./b", "/a b", "/a\\b", "/a/",
        ] {
            assert!(parse(&format!("dir {path} 0755\n")).is_err(), "{path}");
        }
    }

    #[test]
    fn refuses_a_path_listed_twice() {
        assert_eq!(
            line_of(parse("dir /a 0755\nfile /a x 0644\n").unwrap_err()),
            2
        );
    }

    #[test]
    fn refuses_an_entry_outside_a_listed_directory() {
        assert!(parse("file /etc/x x 0644\n").is_err());
        assert!(parse("file /etc x 0644\nfile /etc/x x 0644\n").is_err());
        assert!(parse("dir /etc 0755\nfile /etc/x x 0644\n").is_ok());
    }

    #[test]
    fn refuses_bad_device_numbers() {
        assert!(parse("nod /c 0600 c five 1\n").is_err());
        assert!(parse("nod /c 0600 c 5 -1\n").is_err());
        assert!(parse("nod /c 0600 b 5 1\n").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(text in "[a-z0-9 /.\\n#-]{0,300}") {
            let _ = parse(&text);
        }
    }
}
