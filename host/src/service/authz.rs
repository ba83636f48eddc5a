//! Who may do what: scopes, owners and the tenancy model.
//!
//! An API client belongs to one tenant and holds scopes. `*` and `prefix:*`
//! grant every scope (of the prefix) **except `operator`**, which is only
//! ever granted by name. Without `operator`, a client acts inside its own
//! tenant: it sees its tenant's wallets and audit events, and with
//! `admin:clients` it creates, lists and revokes clients of its own tenant,
//! granting at most the scopes it holds itself. An operator client acts across
//! tenants (creates clients anywhere, reads the whole audit log).

use super::error::{Error, Result};

/// A permission an API client can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// List and show wallets, fetch their attestation.
    WalletsRead,
    /// Create and destroy wallets.
    WalletsWrite,
    /// Sign and mint sign intents.
    Sign,
    /// Read the audit log (the own tenant's part, or all of it with `operator`).
    AuditRead,
    /// Scrape `/metrics` when it requires a token.
    MetricsRead,
    /// Manage API clients (of the own tenant, or any with `operator`).
    AdminClients,
    /// Read `/v1/admin/status`.
    AdminStatus,
    /// Act across tenants. Never granted by a wildcard.
    Operator,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Self; 8] = [
        Self::WalletsRead,
        Self::WalletsWrite,
        Self::Sign,
        Self::AuditRead,
        Self::MetricsRead,
        Self::AdminClients,
        Self::AdminStatus,
        Self::Operator,
    ];

    /// The name clients are given and the API takes.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WalletsRead => "wallets:read",
            Self::WalletsWrite => "wallets:write",
            Self::Sign => "sign",
            Self::AuditRead => "audit:read",
            Self::MetricsRead => "metrics:read",
            Self::AdminClients => "admin:clients",
            Self::AdminStatus => "admin:status",
            Self::Operator => "operator",
        }
    }
}

/// What a stored scope string grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// `*`: every scope but `operator`.
    All,
    /// `wallets:*` / `admin:*`: every scope of the prefix.
    Prefix(&'static str),
    /// One scope by name.
    One(Scope),
}

impl Grant {
    /// Parses a scope string; unknown ones are refused.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "*" => Ok(Self::All),
            "wallets:*" => Ok(Self::Prefix("wallets")),
            "admin:*" => Ok(Self::Prefix("admin")),
            other => Scope::ALL
                .into_iter()
                .find(|scope| scope.as_str() == other)
                .map(Self::One)
                .ok_or_else(|| {
                    Error::bad_request(format!(
                        "unknown scope `{other}`; known: *, wallets:*, admin:*, {}",
                        Scope::ALL.map(Scope::as_str).join(", ")
                    ))
                }),
        }
    }

    /// Whether this grant covers `scope`.
    #[must_use]
    pub fn covers(self, scope: Scope) -> bool {
        match self {
            Self::One(s) => s == scope,
            Self::All => scope != Scope::Operator,
            Self::Prefix(prefix) => {
                scope != Scope::Operator && scope.as_str().split(':').next() == Some(prefix)
            }
        }
    }

    /// Whether this grant covers everything `other` covers.
    #[must_use]
    pub fn includes(self, other: Self) -> bool {
        Scope::ALL
            .into_iter()
            .filter(|s| other.covers(*s))
            .all(|s| self.covers(s))
    }
}

pub use crate::domain::Owner;

/// The session of a signed-in user.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    /// The user id.
    pub user_id: String,
    /// The session id (what logout revokes).
    pub jti: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
}

/// An authenticated API client: its tenant and what its scopes grant.
#[derive(Clone, Debug)]
pub struct ClientPrincipal {
    /// Client id.
    pub id: String,
    /// Tenant (`user:<id>` for a client of a person's tenant).
    pub tenant: String,
    /// Granted scopes (parsed from the stored strings; unknown ones dropped).
    pub grants: Vec<Grant>,
}

/// What a signed-in user may do: their own wallets (read, write, sign) and
/// their own audit events, nothing else.
const USER_GRANTS: [Grant; 4] = [
    Grant::One(Scope::WalletsRead),
    Grant::One(Scope::WalletsWrite),
    Grant::One(Scope::Sign),
    Grant::One(Scope::AuditRead),
];

/// An authenticated caller: an API client or a signed-in user.
#[derive(Clone, Debug)]
pub enum Principal {
    /// An API client (bearer token `sgn_…`).
    Client(ClientPrincipal),
    /// A signed-in user (session JWT); their tenant is `user:<id>`.
    User {
        /// The session.
        session: SessionInfo,
        /// `user:<id>`.
        tenant: String,
    },
}

impl Principal {
    /// A principal from a stored client.
    #[must_use]
    pub fn from_client(client: &crate::domain::ApiClient) -> Self {
        Self::Client(ClientPrincipal {
            id: client.id.clone(),
            tenant: client.tenant.clone(),
            grants: client
                .scopes
                .iter()
                .filter_map(|s| Grant::parse(s).ok())
                .collect(),
        })
    }

    /// A signed-in user.
    #[must_use]
    pub fn from_session(user_id: &str, jti: &str, exp: u64) -> Self {
        Self::User {
            tenant: format!("user:{user_id}"),
            session: SessionInfo {
                user_id: user_id.to_owned(),
                jti: jti.to_owned(),
                exp,
            },
        }
    }

    /// `client:<id>` or `user:<id>`, the audit actor (and rate-limit key).
    #[must_use]
    pub fn actor(&self) -> String {
        match self {
            Self::Client(c) => format!("client:{}", c.id),
            Self::User { session, .. } => format!("user:{}", session.user_id),
        }
    }

    /// The tenant whose wallets and audit events this principal sees
    /// (`user:<id>` for a user and for the clients of a person's tenant).
    #[must_use]
    pub fn tenant(&self) -> &str {
        match self {
            Self::Client(c) => &c.tenant,
            Self::User { tenant, .. } => tenant,
        }
    }

    /// The owner of wallets this principal creates and sees: a user's own,
    /// for a user and for the API clients of the user's tenant (`user:<id>`).
    #[must_use]
    pub fn owner(&self) -> Owner {
        match self {
            Self::Client(c) => Owner::of_tenant(&c.tenant),
            Self::User { session, .. } => Owner::User(session.user_id.clone()),
        }
    }

    /// The session, for a signed-in user (not an API client of their tenant).
    #[must_use]
    pub fn session(&self) -> Option<&SessionInfo> {
        match self {
            Self::User { session, .. } => Some(session),
            Self::Client(_) => None,
        }
    }

    /// The user in a session (not an API client of their tenant).
    #[must_use]
    pub fn session_user(&self) -> Option<&str> {
        self.session().map(|s| s.user_id.as_str())
    }

    fn grants(&self) -> &[Grant] {
        match self {
            Self::Client(c) => &c.grants,
            Self::User { .. } => &USER_GRANTS,
        }
    }

    /// Whether `scope` is granted.
    #[must_use]
    pub fn has(&self, scope: Scope) -> bool {
        self.grants().iter().any(|g| g.covers(scope))
    }

    /// Whether this principal acts across tenants.
    #[must_use]
    pub fn is_operator(&self) -> bool {
        self.has(Scope::Operator)
    }

    /// The tenant whose data this principal is limited to (`None`: all).
    #[must_use]
    pub fn tenant_filter(&self) -> Option<&str> {
        (!self.is_operator()).then_some(self.tenant())
    }

    /// Refuses to act on `tenant` unless it is the principal's own or the
    /// principal is an operator.
    pub fn check_tenant(&self, tenant: &str) -> Result<()> {
        if self.is_operator() || tenant == self.tenant() {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "this API client may only act inside its tenant `{}` (the `operator` scope acts across tenants)",
                self.tenant()
            )))
        }
    }

    /// Whether this principal could grant `wanted`: some grant it holds
    /// covers everything `wanted` covers (so never `operator` without
    /// holding it).
    fn can_grant(&self, wanted: Grant) -> bool {
        self.grants().iter().any(|g| g.includes(wanted))
    }

    /// Refuses to grant scope strings this principal does not hold itself.
    pub fn check_can_grant(&self, scopes: &[String]) -> Result<()> {
        for s in scopes {
            let wanted = Grant::parse(s)?;
            if !self.can_grant(wanted) {
                return Err(Error::Forbidden(format!(
                    "cannot grant `{s}`: an API client grants at most the scopes it holds"
                )));
            }
        }
        Ok(())
    }

    /// The first of a client's stored `scopes` this principal could not
    /// grant ([`Self::check_can_grant`]'s rule), if any: a client may revoke
    /// only clients whose every scope it could grant, so a weaker client
    /// never revokes a stronger one and only an operator revokes an
    /// operator. Stored strings that are not scopes grant nothing and are
    /// skipped.
    #[must_use]
    pub fn outranked_by<'a>(&self, scopes: &'a [String]) -> Option<&'a str> {
        scopes
            .iter()
            .find(|s| Grant::parse(s).is_ok_and(|g| !self.can_grant(g)))
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(scopes: &[&str]) -> Principal {
        Principal::Client(ClientPrincipal {
            id: "c".into(),
            tenant: "t".into(),
            grants: scopes.iter().map(|s| Grant::parse(s).unwrap()).collect(),
        })
    }

    #[test]
    fn wildcards_cover_their_prefix() {
        assert!(p(&["*"]).has(Scope::AdminClients));
        assert!(p(&["wallets:*"]).has(Scope::WalletsWrite));
        assert!(!p(&["wallets:*"]).has(Scope::Sign));
        assert!(p(&["sign"]).has(Scope::Sign));
        assert!(!p(&["wallets:read"]).has(Scope::WalletsWrite));
        assert!(p(&["admin:*"]).has(Scope::AdminStatus));
    }

    #[test]
    fn no_wildcard_grants_operator() {
        assert!(!p(&["*"]).is_operator());
        assert!(!p(&["*", "admin:*"]).is_operator());
        assert!(p(&["operator"]).is_operator());
    }

    #[test]
    fn unknown_scopes_are_refused() {
        assert!(Grant::parse("adminx:clients").is_err());
        assert!(Grant::parse("sign:*").is_err());
        assert!(Grant::parse("").is_err());
    }

    #[test]
    fn a_tenant_admin_stays_in_its_tenant() {
        let admin = p(&["*"]);
        assert!(admin.check_tenant("t").is_ok());
        assert!(admin.check_tenant("other").is_err());
        assert!(p(&["admin:clients", "operator"])
            .check_tenant("other")
            .is_ok());
        assert_eq!(admin.tenant_filter(), Some("t"));
        assert_eq!(p(&["operator"]).tenant_filter(), None);
    }

    #[test]
    fn nobody_grants_more_than_it_holds() {
        let admin = p(&["admin:clients", "wallets:*"]);
        assert!(admin.check_can_grant(&["wallets:read".into()]).is_ok());
        assert!(admin.check_can_grant(&["wallets:*".into()]).is_ok());
        assert!(admin.check_can_grant(&["sign".into()]).is_err());
        assert!(admin.check_can_grant(&["*".into()]).is_err());
        assert!(p(&["*"]).check_can_grant(&["operator".into()]).is_err());
        assert!(p(&["*"]).check_can_grant(&["*".into()]).is_ok());
        assert!(p(&["*", "operator"])
            .check_can_grant(&["operator".into()])
            .is_ok());
    }

    fn scopes(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_weaker_client_cannot_revoke_a_stronger_one() {
        let clients_admin = p(&["admin:clients"]);
        assert_eq!(clients_admin.outranked_by(&scopes(&["*"])), Some("*"));
        assert_eq!(
            clients_admin.outranked_by(&scopes(&["admin:clients", "sign"])),
            Some("sign")
        );
        assert_eq!(
            clients_admin.outranked_by(&scopes(&["admin:*"])),
            Some("admin:*")
        );
        assert_eq!(
            clients_admin.outranked_by(&scopes(&["admin:clients"])),
            None
        );
        let wallets_admin = p(&["admin:clients", "wallets:*"]);
        assert_eq!(
            wallets_admin.outranked_by(&scopes(&["wallets:read", "wallets:write"])),
            None
        );
        assert_eq!(wallets_admin.outranked_by(&scopes(&["wallets:*"])), None);
    }

    #[test]
    fn only_an_operator_revokes_an_operator() {
        let operator = scopes(&["*", "operator"]);
        assert_eq!(p(&["*"]).outranked_by(&operator), Some("operator"));
        assert_eq!(
            p(&["*"]).outranked_by(&scopes(&["operator"])),
            Some("operator")
        );
        assert_eq!(p(&["*", "operator"]).outranked_by(&operator), None);
        // An operator, too, revokes only what it could grant.
        assert_eq!(
            p(&["admin:clients", "operator"]).outranked_by(&operator),
            Some("*")
        );
    }

    #[test]
    fn a_client_revokes_its_equals_and_stored_non_scopes_grant_nothing() {
        assert_eq!(p(&["*"]).outranked_by(&scopes(&["*"])), None);
        assert_eq!(p(&["*"]).outranked_by(&scopes(&["retired:scope"])), None);
    }
}
