//! The dev bootstrap: private files and the admin API client.

use std::path::Path;

use crate::service::authz::{Grant, Scope};
use crate::service::clients::{create_client, parse_token, Creator};
use crate::store::Store;

pub use signet_proto::files::{private_dir, write_atomic as write_file};

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
                c.revoked_at_ms.is_none() && {
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
