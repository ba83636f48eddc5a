//! Users, login challenges and session revocation: one SQL text for both
//! dialects. Times are Unix milliseconds.

use sqlx::any::AnyRow;
use sqlx::Row as _;

use super::{i64_of, u64_col, Store, StoreError};
use crate::domain::User;

/// A login challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeRow {
    /// Id (unguessable).
    pub id: String,
    /// Unix ms.
    pub created_at: u64,
    /// Unix ms.
    pub expires_at: u64,
    /// The Telegram user who resolved it.
    pub telegram_user_id: Option<i64>,
    /// When it was resolved.
    pub resolved_at: Option<u64>,
    /// When it was exchanged for a session.
    pub verified_at: Option<u64>,
    /// SHA-256 (hex) of the verifier its browser was given.
    pub verifier_hash: Option<String>,
    /// The two digits its page shows.
    pub code: Option<String>,
    /// What asked for it (address, shortened user agent), for the bot's message.
    pub requester: Option<String>,
    /// The Telegram user who opened it (`/start`): only they may answer.
    pub claimed_by: Option<i64>,
    /// When it was refused in Telegram (a wrong code or "Not me").
    pub refused_at: Option<u64>,
}

/// A challenge to store.
#[derive(Clone, Debug)]
pub struct NewChallenge<'a> {
    /// Id (unguessable).
    pub id: &'a str,
    /// Unix ms.
    pub now: u64,
    /// Unix ms.
    pub expires_at: u64,
    /// SHA-256 (hex) of the browser's verifier.
    pub verifier_hash: &'a str,
    /// The page's two digits.
    pub code: &'a str,
    /// What asked (address, user agent), shown in Telegram.
    pub requester: &'a str,
    /// Test mode: resolved at once for this Telegram user.
    pub telegram_user_id: Option<i64>,
}

/// Whether a session still holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionState {
    /// Logged out (its `jti`).
    pub revoked: bool,
    /// Its user is banned.
    pub banned: bool,
    /// Sessions issued before this (ms) are refused: an invalidate-all, or
    /// the user's own "end every session".
    pub not_before_ms: u64,
}

/// What verifying a challenge found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verified {
    /// Exchanged now, for this user (created on first sight).
    User(User),
    /// No such challenge.
    Unknown,
    /// Not resolved yet.
    Pending,
    /// Past its expiry.
    Expired,
    /// Already exchanged.
    Used,
    /// Refused in Telegram (a wrong code or "Not me").
    Refused,
}

fn opt_u64(r: &AnyRow, i: usize) -> Result<Option<u64>, StoreError> {
    Ok(r.try_get::<Option<i64>, _>(i)?
        .map(|v| u64::try_from(v).unwrap_or(0)))
}

fn challenge_from_row(r: &AnyRow) -> Result<ChallengeRow, StoreError> {
    Ok(ChallengeRow {
        id: r.try_get(0)?,
        created_at: u64_col(r, 1)?,
        expires_at: u64_col(r, 2)?,
        telegram_user_id: r.try_get(3)?,
        resolved_at: opt_u64(r, 4)?,
        verified_at: opt_u64(r, 5)?,
        verifier_hash: r.try_get(6)?,
        code: r.try_get(7)?,
        requester: r.try_get(8)?,
        claimed_by: r.try_get(9)?,
        refused_at: opt_u64(r, 10)?,
    })
}

const CHALLENGE_COLUMNS: &str =
    "SELECT id, created_at, expires_at, telegram_user_id, resolved_at, verified_at, verifier_hash, code, requester, claimed_by, refused_at FROM auth_challenges";

impl Store {
    /// Stores a new challenge (resolved at once for `telegram_user_id`, in
    /// test mode).
    pub async fn insert_challenge(&self, c: &NewChallenge<'_>) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO auth_challenges (id, created_at, expires_at, telegram_user_id, resolved_at, verifier_hash, code, requester) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(c.id)
            .bind(i64_of(c.now))
            .bind(i64_of(c.expires_at))
            .bind(c.telegram_user_id)
            .bind(c.telegram_user_id.map(|_| i64_of(c.now)))
            .bind(c.verifier_hash)
            .bind(c.code)
            .bind(c.requester)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A challenge by id.
    pub async fn challenge(&self, id: &str) -> Result<Option<ChallengeRow>, StoreError> {
        let row = sqlx::query(&format!("{CHALLENGE_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| challenge_from_row(&r)).transpose()
    }

    /// Marks a live, open challenge as opened by `telegram_user_id` (its
    /// `/start`); true if it is now theirs (also when it already was), false
    /// if it is unknown, closed or another user's.
    pub async fn claim_challenge(
        &self,
        id: &str,
        telegram_user_id: i64,
        now: u64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE auth_challenges SET claimed_by = $2 WHERE id = $1 AND (claimed_by IS NULL OR claimed_by = $2) AND resolved_at IS NULL AND refused_at IS NULL AND expires_at > $3")
            .bind(id)
            .bind(telegram_user_id)
            .bind(i64_of(now))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done == 1)
    }

    /// Resolves a live, open challenge for the user who opened it, if
    /// `code` is its page's code (a compare-and-set: a refusal or another
    /// answer racing it wins or loses whole).
    pub async fn resolve_challenge(
        &self,
        id: &str,
        telegram_user_id: i64,
        code: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE auth_challenges SET telegram_user_id = $2, resolved_at = $3 WHERE id = $1 AND claimed_by = $2 AND code = $4 AND resolved_at IS NULL AND refused_at IS NULL AND expires_at > $3")
            .bind(id)
            .bind(telegram_user_id)
            .bind(i64_of(now))
            .bind(code)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done == 1)
    }

    /// Cancels an open challenge on the word of the user who opened it (a
    /// wrong code or "Not me"); true if it was open.
    pub async fn refuse_challenge(
        &self,
        id: &str,
        telegram_user_id: i64,
        now: u64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE auth_challenges SET refused_at = $3 WHERE id = $1 AND claimed_by = $2 AND resolved_at IS NULL AND refused_at IS NULL")
            .bind(id)
            .bind(telegram_user_id)
            .bind(i64_of(now))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done == 1)
    }

    /// Exchanges a resolved challenge once, for the browser holding its
    /// verifier (`verifier_hash`, compared in constant time; without it the
    /// challenge is [`Verified::Unknown`]: a bystander learns nothing), with a
    /// compare-and-set on `verified_at` so two replicas never both succeed,
    /// and returns its user, creating it on first sight.
    pub async fn verify_challenge(
        &self,
        id: &str,
        verifier_hash: &str,
        now: u64,
        new_user_id: &str,
    ) -> Result<Verified, StoreError> {
        use subtle::ConstantTimeEq as _;
        let Some(c) = self.challenge(id).await? else {
            return Ok(Verified::Unknown);
        };
        let holds: bool = c
            .verifier_hash
            .as_deref()
            .is_some_and(|h| h.as_bytes().ct_eq(verifier_hash.as_bytes()).into());
        if !holds {
            return Ok(Verified::Unknown);
        }
        if c.refused_at.is_some() {
            return Ok(Verified::Refused);
        }
        if c.verified_at.is_some() {
            return Ok(Verified::Used);
        }
        if c.expires_at <= now {
            return Ok(Verified::Expired);
        }
        let Some(telegram_user_id) = c.telegram_user_id.filter(|_| c.resolved_at.is_some()) else {
            return Ok(Verified::Pending);
        };
        let won = sqlx::query("UPDATE auth_challenges SET verified_at = $2 WHERE id = $1 AND verified_at IS NULL AND resolved_at IS NOT NULL")
            .bind(id)
            .bind(i64_of(now))
            .execute(&self.pool)
            .await?
            .rows_affected();
        if won != 1 {
            return Ok(Verified::Used);
        }
        sqlx::query("INSERT INTO users (id, telegram_user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (telegram_user_id) DO NOTHING")
            .bind(new_user_id)
            .bind(telegram_user_id)
            .bind(i64_of(now))
            .execute(&self.pool)
            .await?;
        let user = self
            .user_by_telegram_id(telegram_user_id)
            .await?
            .ok_or_else(|| StoreError::corrupt("user", "it vanished after its insert"))?;
        Ok(Verified::User(user))
    }

    /// Whether the user `id` exists.
    pub async fn user_exists(&self, id: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT id FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// The user with this Telegram id.
    pub async fn user_by_telegram_id(
        &self,
        telegram_user_id: i64,
    ) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(
            "SELECT id, telegram_user_id, created_at FROM users WHERE telegram_user_id = $1",
        )
        .bind(telegram_user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(User {
                id: r.try_get(0)?,
                telegram_user_id: r.try_get(1)?,
                created_at_ms: u64_col(&r, 2)?,
            })
        })
        .transpose()
    }

    /// Revokes one session until its expiry (logout).
    pub async fn revoke_session(&self, jti: &str, expires_at: u64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO session_revocations (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(i64_of(expires_at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Refuses every session issued before `not_before` (ms), on every replica.
    pub async fn invalidate_sessions_before(&self, not_before: u64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO session_epochs (id, not_before) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET not_before = excluded.not_before WHERE session_epochs.not_before < excluded.not_before")
            .bind(i64_of(not_before))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// What decides whether session `jti` of user `user_id` still holds, in
    /// one round trip: revoked, banned, and the latest of the invalidate-all
    /// time and the user's own `sessions_not_before` (ms).
    pub async fn session_state(
        &self,
        jti: &str,
        user_id: &str,
    ) -> Result<SessionState, StoreError> {
        let row = sqlx::query("SELECT (SELECT COUNT(*) FROM session_revocations WHERE jti = $1), (SELECT MAX(not_before) FROM session_epochs), (SELECT sessions_not_before FROM users WHERE id = $2), (SELECT banned_at FROM users WHERE id = $2)")
            .bind(jti)
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?;
        let revoked: i64 = row.try_get(0)?;
        let global = opt_u64(&row, 1)?.unwrap_or(0);
        let own = opt_u64(&row, 2)?.unwrap_or(0);
        Ok(SessionState {
            revoked: revoked > 0,
            banned: opt_u64(&row, 3)?.is_some(),
            not_before_ms: global.max(own),
        })
    }

    /// Refuses every session of user `id` issued before `not_before` (ms),
    /// on every replica; false if there is no such user.
    pub async fn end_user_sessions(&self, id: &str, not_before: u64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET sessions_not_before = $2 WHERE id = $1 AND sessions_not_before < $2",
        )
        .bind(id)
        .bind(i64_of(not_before))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done == 1 || self.user_exists(id).await?)
    }

    /// Bans user `id` (at `at`, ms; `None` lifts the ban); false if there
    /// is no such user.
    pub async fn set_user_ban(&self, id: &str, at: Option<u64>) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET banned_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at.map(i64_of))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done == 1)
    }

    /// Whether user `id` is banned.
    pub async fn user_banned(&self, id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT banned_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => opt_u64(&r, 0)?.is_some(),
            None => false,
        })
    }

    /// Records a Telegram update id; false if it was seen before (Telegram
    /// delivers at least once).
    pub async fn record_telegram_update(
        &self,
        update_id: i64,
        now: u64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("INSERT INTO telegram_updates (update_id, received_at) VALUES ($1, $2) ON CONFLICT (update_id) DO NOTHING")
            .bind(update_id)
            .bind(i64_of(now))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done == 1)
    }

    /// Drops challenges and revocations that expired before `before_ms`.
    pub async fn prune_sessions(&self, before_ms: u64) -> Result<u64, StoreError> {
        let a = sqlx::query("DELETE FROM auth_challenges WHERE expires_at < $1")
            .bind(i64_of(before_ms))
            .execute(&self.pool)
            .await?
            .rows_affected();
        let b = sqlx::query("DELETE FROM session_revocations WHERE expires_at < $1")
            .bind(i64_of(before_ms))
            .execute(&self.pool)
            .await?
            .rows_affected();
        // Telegram retries an update for at most a day.
        let c = sqlx::query("DELETE FROM telegram_updates WHERE received_at < $1")
            .bind(i64_of(before_ms.saturating_sub(2 * 86_400_000)))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(a + b + c)
    }
}
