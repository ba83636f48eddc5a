//! The dev bootstrap: private files and the admin API client.

use std::path::Path;

use crate::service::authz::{Grant, Scope};
use crate::service::clients::{create_client, parse_token, Creator};
use crate::store::Store;

/// Creates `dir` (and parents) with mode 0700.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes `bytes` to `path` atomically with `mode`.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The admin's scopes: everything, across tenants.
pub const ADMIN_SCOPES: [&str; 2] = ["*", "operator"];

/// Ensures an operator API client exists and its token is in `path` (0600):
/// a token file naming a live client with `*` and `operator` is kept; else a
/// new admin client is created (databases from before `operator` existed get
/// a new token).
pub async fn ensure_admin(store: &Store, path: &Path) -> Result<(), String> {
    if let Ok(token) = std::fs::read_to_string(path) {
        if let Some((id, _)) = parse_token(token.trim()) {
            let current = store.client(id).await.map_err(|e| e.to_string())?;
            let is_admin = current.is_some_and(|c| {
                c.revoked_at.is_none() && {
                    let grants: Vec<Grant> = c
                        .scopes
                        .iter()
                        .filter_map(|s| Grant::parse(s).ok())
                        .collect();
                    grants.iter().any(|g| g.covers(Scope::Operator)) && grants.contains(&Grant::All)
                }
            });
            if is_admin {
                return Ok(());
            }
        }
    }
    let (_, token) = create_client(
        store,
        Creator::Operator,
        "admin",
        "default",
        ADMIN_SCOPES.map(str::to_owned).to_vec(),
    )
    .await
    .map_err(|e| e.to_string())?;
    write_file(path, format!("{}\n", token.as_str()).as_bytes(), 0o600)
        .map_err(|e| format!("{}: {e}", path.display()))
}
