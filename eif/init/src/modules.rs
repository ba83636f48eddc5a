//! The kernel modules to load, in order, from `modules.dep` (written by
//! `depmod`, trimmed by `eif/build.sh` to the modules the image ships) and
//! `modules.load` (the modules the enclave needs, one name a line).
//!
//! A `modules.dep` line is `path: dep-path dep-path …`, paths relative to
//! the modules directory; a module's name is its file name without
//! `.ko[.xz|.zst|.gz]`, `-` read as `_` (as the kernel names modules). Each
//! wanted module is loaded after its dependencies (depth first, each module
//! once); a dependency that `modules.dep` does not list, a cycle or a
//! malformed line is an error, never a partial load order.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

/// The largest `modules.dep` or `modules.load` read (checked before parsing).
pub const MAX_MODULES_FILE_LEN: usize = 256 * 1024;
/// The deepest dependency chain followed.
pub const MAX_DEPTH: usize = 32;

/// Why no load order was found.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModulesError {
    /// A file is larger than [`MAX_MODULES_FILE_LEN`].
    #[error("{file} is {len} bytes, more than the {max} allowed")]
    TooLarge {
        /// Which file.
        file: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A file is not UTF-8.
    #[error("{0} is not UTF-8")]
    NotUtf8(&'static str),
    /// A `modules.dep` line without `:` or with a path that is not a module.
    #[error("modules.dep line {line}: {why}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// The same module listed twice in `modules.dep`.
    #[error("modules.dep lists {0} twice")]
    Duplicate(String),
    /// A module (wanted, or a dependency) that `modules.dep` does not list.
    #[error("module {name} is not in modules.dep{}", needed_by.as_ref().map(|n| format!(" (needed by {n})")).unwrap_or_default())]
    Unknown {
        /// The module.
        name: String,
        /// The module that depends on it, if any.
        needed_by: Option<String>,
    },
    /// A dependency cycle, or a chain deeper than [`MAX_DEPTH`].
    #[error("module {0} depends on itself (or the chain is deeper than {MAX_DEPTH})")]
    Cycle(String),
    /// `modules.load` names no module.
    #[error("modules.load names no module")]
    NothingToLoad,
}

/// One module to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleDep {
    /// The kernel's name for it (`vmw_vsock_virtio_transport`).
    pub name: String,
    /// Its file, relative to the modules directory.
    pub path: String,
}

/// A module's name from its path: `kernel/net/vmw_vsock/vsock.ko.xz` → `vsock`.
fn module_name(path: &str) -> Option<String> {
    let file = path.rsplit('/').next()?;
    let stem = [".ko.xz", ".ko.zst", ".ko.gz", ".ko"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext))?;
    if stem.is_empty() || path.starts_with('/') || path.split('/').any(|c| c == "..") {
        return None;
    }
    Some(normalize(stem))
}

fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

fn text<'a>(file: &'static str, bytes: &'a [u8]) -> Result<&'a str, ModulesError> {
    if bytes.len() > MAX_MODULES_FILE_LEN {
        return Err(ModulesError::TooLarge {
            file,
            len: bytes.len(),
            max: MAX_MODULES_FILE_LEN,
        });
    }
    std::str::from_utf8(bytes).map_err(|_| ModulesError::NotUtf8(file))
}

/// The modules named by `modules.load` (one a line, `#` comments), with
/// their dependencies from `modules.dep`, in the order to load them.
pub fn load_order(modules_dep: &[u8], modules_load: &[u8]) -> Result<Vec<ModuleDep>, ModulesError> {
    let dep_text = text("modules.dep", modules_dep)?;
    let load_text = text("modules.load", modules_load)?;
    // name -> (path, dependency names)
    let mut graph: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for (i, raw) in dep_text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() || raw.trim_start().starts_with('#') {
            continue;
        }
        let (path, deps) = raw.split_once(':').ok_or(ModulesError::Malformed {
            line,
            why: "no ':'",
        })?;
        let path = path.trim();
        let name = module_name(path).ok_or(ModulesError::Malformed {
            line,
            why: "not a relative path to a .ko file",
        })?;
        let deps = deps
            .split_whitespace()
            .map(|d| {
                module_name(d).ok_or(ModulesError::Malformed {
                    line,
                    why: "a dependency is not a relative path to a .ko file",
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if graph
            .insert(name.clone(), (path.to_owned(), deps))
            .is_some()
        {
            return Err(ModulesError::Duplicate(name));
        }
    }
    let wanted: Vec<String> = load_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(normalize)
        .collect();
    if wanted.is_empty() {
        return Err(ModulesError::NothingToLoad);
    }
    let mut order = Vec::new();
    let mut done = BTreeSet::new();
    for name in &wanted {
        visit(&graph, name, None, &mut Vec::new(), &mut done, &mut order)?;
    }
    Ok(order)
}

fn visit(
    graph: &BTreeMap<String, (String, Vec<String>)>,
    name: &str,
    needed_by: Option<&str>,
    stack: &mut Vec<String>,
    done: &mut BTreeSet<String>,
    order: &mut Vec<ModuleDep>,
) -> Result<(), ModulesError> {
    if done.contains(name) {
        return Ok(());
    }
    if stack.iter().any(|s| s == name) || stack.len() >= MAX_DEPTH {
        return Err(ModulesError::Cycle(name.to_owned()));
    }
    let (path, deps) = graph.get(name).ok_or_else(|| ModulesError::Unknown {
        name: name.to_owned(),
        needed_by: needed_by.map(str::to_owned),
    })?;
    stack.push(name.to_owned());
    // depmod lists the deepest dependency last: load from the end.
    for dep in deps.iter().rev() {
        visit(graph, dep, Some(name), stack, done, order)?;
    }
    stack.pop();
    done.insert(name.to_owned());
    order.push(ModuleDep {
        name: name.to_owned(),
        path: path.clone(),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    /// The lines `depmod` writes for these modules of Debian's
    /// 6.12.117+deb12-cloud-amd64 kernel.
    const DEBIAN_6_12: &str = "\
kernel/drivers/virtio/virtio_mmio.ko.xz:
kernel/drivers/misc/nsm.ko.xz:
kernel/net/vmw_vsock/vsock.ko.xz:
kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.xz: kernel/net/vmw_vsock/vsock.ko.xz
kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko.xz: kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.xz kernel/net/vmw_vsock/vsock.ko.xz
";
    const WANTED: &str = "virtio_mmio\nvsock\nvmw_vsock_virtio_transport\nnsm\n";

    fn names(order: &[ModuleDep]) -> Vec<&str> {
        order.iter().map(|m| m.name.as_str()).collect()
    }

    #[test]
    fn dependencies_load_first_each_once() {
        let order = load_order(DEBIAN_6_12.as_bytes(), WANTED.as_bytes()).unwrap();
        assert_eq!(
            names(&order),
            [
                "virtio_mmio",
                "vsock",
                "vmw_vsock_virtio_transport_common",
                "vmw_vsock_virtio_transport",
                "nsm"
            ]
        );
        assert_eq!(
            order[2].path,
            "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.xz"
        );
        // Asking for the transport alone still brings its dependencies, first.
        let order = load_order(DEBIAN_6_12.as_bytes(), b"vmw_vsock_virtio_transport").unwrap();
        assert_eq!(
            names(&order),
            [
                "vsock",
                "vmw_vsock_virtio_transport_common",
                "vmw_vsock_virtio_transport"
            ]
        );
    }

    #[test]
    fn names_are_read_as_the_kernel_reads_them() {
        let dep = "kernel/a/virtio-mmio.ko:\nextra/b.ko.zst: kernel/a/virtio-mmio.ko\n";
        let order = load_order(dep.as_bytes(), b"# comment\nb\n").unwrap();
        assert_eq!(names(&order), ["virtio_mmio", "b"]);
    }

    #[test]
    fn refuses_a_module_not_in_modules_dep() {
        assert_eq!(
            load_order(DEBIAN_6_12.as_bytes(), b"nsm\nvhost_vsock\n"),
            Err(ModulesError::Unknown {
                name: "vhost_vsock".into(),
                needed_by: None
            })
        );
    }

    #[test]
    fn refuses_a_missing_dependency() {
        let trimmed: String = DEBIAN_6_12
            .lines()
            .filter(|l| !l.starts_with("kernel/net/vmw_vsock/vsock.ko"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            load_order(trimmed.as_bytes(), WANTED.as_bytes()),
            Err(ModulesError::Unknown {
                name: "vsock".into(),
                needed_by: None
            })
        );
        assert_eq!(
            load_order(trimmed.as_bytes(), b"vmw_vsock_virtio_transport"),
            Err(ModulesError::Unknown {
                name: "vsock".into(),
                needed_by: Some("vmw_vsock_virtio_transport".into())
            })
        );
    }

    #[test]
    fn refuses_a_cycle() {
        let dep = "a.ko: b.ko\nb.ko: a.ko\n";
        assert!(matches!(
            load_order(dep.as_bytes(), b"a"),
            Err(ModulesError::Cycle(_))
        ));
        assert!(matches!(
            load_order(b"a.ko: a.ko\n", b"a"),
            Err(ModulesError::Cycle(_))
        ));
    }

    #[test]
    fn refuses_a_deep_chain() {
        let dep: String = (0..MAX_DEPTH + 2)
            .map(|i| format!("m{i}.ko: m{}.ko\n", i + 1))
            .chain([format!("m{}.ko:\n", MAX_DEPTH + 2)])
            .collect();
        assert!(matches!(
            load_order(dep.as_bytes(), b"m0"),
            Err(ModulesError::Cycle(_))
        ));
    }

    #[test]
    fn refuses_malformed_lines() {
        for (dep, line) in [
            ("kernel/a.ko\n", 1),
            ("kernel/a.ko:\nkernel/b.txt:\n", 2),
            ("kernel/a.ko: kernel/b\n", 1),
            ("/lib/modules/a.ko:\n", 1),
            ("../a.ko:\n", 1),
            ("kernel/.ko:\n", 1),
        ] {
            assert!(
                matches!(
                    load_order(dep.as_bytes(), b"a"),
                    Err(ModulesError::Malformed { line: l, .. }) if l == line
                ),
                "{dep:?}"
            );
        }
    }

    #[test]
    fn refuses_a_module_listed_twice() {
        assert_eq!(
            load_order(b"x/a.ko:\ny/a.ko.xz:\n", b"a"),
            Err(ModulesError::Duplicate("a".into()))
        );
    }

    #[test]
    fn refuses_an_empty_load_list() {
        assert_eq!(
            load_order(DEBIAN_6_12.as_bytes(), b"# nothing\n\n"),
            Err(ModulesError::NothingToLoad)
        );
    }

    #[test]
    fn refuses_oversized_or_non_utf8_files() {
        let big = vec![b'#'; MAX_MODULES_FILE_LEN + 1];
        assert!(matches!(
            load_order(&big, WANTED.as_bytes()),
            Err(ModulesError::TooLarge {
                file: "modules.dep",
                ..
            })
        ));
        assert!(matches!(
            load_order(DEBIAN_6_12.as_bytes(), &big),
            Err(ModulesError::TooLarge {
                file: "modules.load",
                ..
            })
        ));
        assert_eq!(
            load_order(b"a.ko:\xff\n", b"a"),
            Err(ModulesError::NotUtf8("modules.dep"))
        );
    }

    proptest! {
        #[test]
        fn never_panics(
            dep in proptest::collection::vec(any::<u8>(), 0..400),
            load in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            let _ = load_order(&dep, &load);
        }

        #[test]
        fn any_order_found_loads_dependencies_first(
            edges in proptest::collection::vec((0u8..8, 0u8..8), 0..20),
            wanted in proptest::collection::vec(0u8..8, 1..5),
        ) {
            let mut deps: BTreeMap<u8, Vec<u8>> = (0..8).map(|m| (m, Vec::new())).collect();
            for (a, b) in edges {
                if let Some(list) = deps.get_mut(&a) {
                    list.push(b);
                }
            }
            let dep: String = deps
                .iter()
                .map(|(m, ds)| {
                    let ds: Vec<String> = ds.iter().map(|d| format!("k/m{d}.ko")).collect();
                    format!("k/m{m}.ko: {}\n", ds.join(" "))
                })
                .collect();
            let load: String = wanted.iter().map(|w| format!("m{w}\n")).collect();
            if let Ok(order) = load_order(dep.as_bytes(), load.as_bytes()) {
                let position = |name: &str| order.iter().position(|m| m.name == name);
                for (i, m) in order.iter().enumerate() {
                    let index: u8 = m.name[1..].parse().unwrap();
                    for d in &deps[&index] {
                        let p = position(&format!("m{d}")).unwrap();
                        prop_assert!(p < i, "{} loads before its dependency m{}", m.name, d);
                    }
                }
                for w in wanted {
                    let name = format!("m{w}");
                    prop_assert!(position(&name).is_some(), "{} is not loaded", name);
                }
                let unique: BTreeSet<&str> = order.iter().map(|m| m.name.as_str()).collect();
                prop_assert_eq!(unique.len(), order.len());
            }
        }
    }
}
