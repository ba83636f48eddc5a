//! The bot's update queue and Telegram's offset bookkeeping, without I/O.
//!
//! It follows the Bot API server (`tdlib/telegram-bot-api`, `TQueue`):
//! update ids start at a random value in `[2_000_001, 1_000_000_000]` and
//! increase by one; `getUpdates` with
//! - `offset > 0` forgets (confirms) every update with `update_id < offset`
//!   and returns the oldest ones from there, unless `offset` is more than 10
//!   past the next id to be assigned or more than 2,000,000 before it — then
//!   it is ignored (nothing is forgotten, the oldest updates are returned);
//! - `offset == 0` (or absent) returns the oldest unconfirmed updates;
//! - `offset < 0` forgets all but the last `-offset` updates and returns
//!   those.
//!
//! Updates expire after 24 hours, as Telegram's do.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The largest valid update id (exclusive), as in TQueue.
pub const MAX_ID: i64 = 2_000_000_000;
/// At most this many updates wait in the queue (TQueue's `MAX_QUEUE_EVENTS`).
pub const MAX_QUEUE_EVENTS: usize = 1_000_000;
/// The lowest first update id.
pub const FIRST_ID_MIN: i64 = 2 * MAX_QUEUE_EVENTS as i64 + 1;
/// The highest first update id.
pub const FIRST_ID_MAX: i64 = MAX_ID / 2;
/// How long an unconfirmed update is kept, seconds.
pub const UPDATE_TTL_SECS: u64 = 24 * 60 * 60;

/// One queued update.
#[derive(Clone, Debug, PartialEq)]
pub struct QueuedUpdate {
    /// Its `update_id`.
    pub id: i64,
    /// The update's fields other than `update_id` (`{"message": {...}}`).
    pub fields: Map<String, Value>,
    /// Updates with the same key are delivered to a webhook in order, one
    /// at a time (Telegram keys them by chat).
    pub queue_key: i64,
    /// Unix time after which it is dropped.
    pub expires_at: u64,
}

impl QueuedUpdate {
    /// The update as JSON, `update_id` first as Telegram writes it.
    pub fn to_json(&self) -> String {
        let mut out = format!("{{\"update_id\":{}", self.id);
        for (k, v) in &self.fields {
            out.push(',');
            out.push_str(&Value::String(k.clone()).to_string());
            out.push(':');
            out.push_str(&v.to_string());
        }
        out.push('}');
        out
    }

    /// The update as a JSON value.
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert("update_id".into(), Value::from(self.id));
        for (k, v) in &self.fields {
            map.insert(k.clone(), v.clone());
        }
        Value::Object(map)
    }
}

/// Why an update was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// `MAX_QUEUE_EVENTS` updates are waiting.
    #[error("the update queue is full")]
    Full,
}

/// The queue of one bot.
#[derive(Clone, Debug)]
pub struct UpdateQueue {
    /// The id the next update gets.
    tail: i64,
    events: BTreeMap<i64, QueuedUpdate>,
}

impl UpdateQueue {
    /// An empty queue whose first update gets `first_id` (clamped into the
    /// range Telegram draws from).
    pub fn new(first_id: i64) -> Self {
        Self {
            tail: first_id.clamp(FIRST_ID_MIN, FIRST_ID_MAX),
            events: BTreeMap::new(),
        }
    }

    /// Appends an update; returns its id.
    pub fn push(
        &mut self,
        fields: Map<String, Value>,
        queue_key: i64,
        now_unix: u64,
    ) -> Result<i64, QueueError> {
        if self.events.len() >= MAX_QUEUE_EVENTS {
            return Err(QueueError::Full);
        }
        if self.tail + 1 >= MAX_ID {
            // TQueue starts over from a new random id; so does the fake, from
            // the lowest one.
            self.events.clear();
            self.tail = FIRST_ID_MIN;
        }
        let id = self.tail;
        self.tail += 1;
        self.events.insert(
            id,
            QueuedUpdate {
                id,
                fields,
                queue_key,
                expires_at: now_unix.saturating_add(UPDATE_TTL_SECS),
            },
        );
        Ok(id)
    }

    /// The id of the oldest pending update, or the next id if none is.
    pub fn head(&self) -> i64 {
        self.events.keys().next().copied().unwrap_or(self.tail)
    }

    /// The id the next update will get.
    pub fn tail(&self) -> i64 {
        self.tail
    }

    /// How many updates are pending.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no update is pending.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Every pending update, oldest first.
    pub fn pending(&self) -> impl Iterator<Item = &QueuedUpdate> {
        self.events.values()
    }

    /// One pending update.
    pub fn get(&self, id: i64) -> Option<&QueuedUpdate> {
        self.events.get(&id)
    }

    /// Forgets one update (delivered to the webhook).
    pub fn forget(&mut self, id: i64) {
        self.events.remove(&id);
    }

    /// Forgets every pending update (`drop_pending_updates`).
    pub fn clear(&mut self) {
        self.events.clear();
    }

    /// Drops expired updates.
    pub fn expire(&mut self, now_unix: u64) {
        self.events.retain(|_, e| e.expires_at >= now_unix);
    }

    /// `getUpdates`' selection: applies `offset` (see the module docs) and
    /// returns at most `limit` updates, oldest first.
    pub fn poll(&mut self, offset: i64, limit: usize, now_unix: u64) -> Vec<QueuedUpdate> {
        self.expire(now_unix);
        if offset < 0 {
            let keep = usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX);
            let drop_n = self.events.len().saturating_sub(keep);
            let doomed: Vec<i64> = self.events.keys().take(drop_n).copied().collect();
            for id in doomed {
                self.events.remove(&id);
            }
        }
        let requested = if offset <= 0 { self.head() } else { offset };
        let acceptable = (0..MAX_ID).contains(&requested)
            && requested <= self.tail + 10
            && requested >= self.tail - 2 * MAX_QUEUE_EVENTS as i64;
        let from = if acceptable {
            self.events = self.events.split_off(&requested);
            requested
        } else {
            self.head()
        };
        self.events
            .range(from..)
            .take(limit)
            .map(|(_, e)| e.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const NOW: u64 = 1_700_000_000;
    const FIRST: i64 = 500_000;

    fn queue_with(n: usize) -> UpdateQueue {
        let mut q = UpdateQueue::new(FIRST_ID_MIN + FIRST);
        for i in 0..n {
            let mut fields = Map::new();
            fields.insert("n".into(), Value::from(i));
            q.push(fields, 1, NOW).unwrap();
        }
        q
    }

    fn ids(updates: &[QueuedUpdate]) -> Vec<i64> {
        updates.iter().map(|u| u.id).collect()
    }

    const BASE: i64 = FIRST_ID_MIN + FIRST;

    #[test]
    fn ids_increase_by_one_from_the_first() {
        let q = queue_with(3);
        assert_eq!(q.head(), BASE);
        assert_eq!(q.tail(), BASE + 3);
    }

    #[test]
    fn first_id_is_clamped_into_telegrams_range() {
        assert_eq!(UpdateQueue::new(1).tail(), FIRST_ID_MIN);
        assert_eq!(UpdateQueue::new(i64::MAX).tail(), FIRST_ID_MAX);
    }

    #[test]
    fn offset_zero_returns_oldest_without_confirming() {
        let mut q = queue_with(5);
        assert_eq!(ids(&q.poll(0, 2, NOW)), vec![BASE, BASE + 1]);
        assert_eq!(ids(&q.poll(0, 100, NOW)).len(), 5);
    }

    #[test]
    fn offset_confirms_everything_before_it() {
        let mut q = queue_with(5);
        assert_eq!(
            ids(&q.poll(BASE + 2, 100, NOW)),
            vec![BASE + 2, BASE + 3, BASE + 4]
        );
        assert_eq!(q.len(), 3);
        // Confirmed updates never come back.
        assert_eq!(ids(&q.poll(0, 100, NOW))[0], BASE + 2);
    }

    #[test]
    fn offset_past_the_last_confirms_all() {
        let mut q = queue_with(3);
        assert!(q.poll(BASE + 3, 100, NOW).is_empty());
        assert!(q.is_empty());
        // Up to 10 past the next id is still accepted (and confirms all).
        let mut q = queue_with(3);
        assert!(q.poll(BASE + 3 + 10, 100, NOW).is_empty());
        assert!(q.is_empty());
    }

    #[test]
    fn offset_far_in_the_future_is_ignored() {
        let mut q = queue_with(3);
        assert_eq!(ids(&q.poll(BASE + 3 + 11, 100, NOW)).len(), 3);
        assert_eq!(q.len(), 3);
        assert_eq!(ids(&q.poll(MAX_ID + 5, 100, NOW)).len(), 3);
    }

    #[test]
    fn offset_far_in_the_past_is_ignored() {
        let mut q = queue_with(3);
        let too_old = BASE + 3 - 2 * MAX_QUEUE_EVENTS as i64 - 1;
        assert!(too_old > 0);
        assert_eq!(ids(&q.poll(too_old, 100, NOW)).len(), 3);
        // An old offset that is still within range just confirms nothing.
        assert_eq!(ids(&q.poll(BASE - 5, 100, NOW)).len(), 3);
    }

    #[test]
    fn negative_offset_keeps_the_last_ones() {
        let mut q = queue_with(5);
        assert_eq!(ids(&q.poll(-2, 100, NOW)), vec![BASE + 3, BASE + 4]);
        assert_eq!(q.len(), 2);
        assert_eq!(ids(&q.poll(-10, 100, NOW)), vec![BASE + 3, BASE + 4]);
        assert_eq!(ids(&q.poll(i64::from(i32::MIN), 1, NOW)), vec![BASE + 3]);
    }

    #[test]
    fn limit_caps_the_answer() {
        let mut q = queue_with(150);
        assert_eq!(q.poll(0, 100, NOW).len(), 100);
        assert_eq!(q.poll(0, 1, NOW).len(), 1);
    }

    #[test]
    fn expired_updates_are_dropped() {
        let mut q = queue_with(2);
        assert!(q.poll(0, 100, NOW + UPDATE_TTL_SECS + 1).is_empty());
    }

    #[test]
    fn empty_queue_with_offset_at_tail() {
        let mut q = UpdateQueue::new(BASE);
        assert!(q.poll(BASE, 100, NOW).is_empty());
        assert!(q.poll(-1, 100, NOW).is_empty());
    }

    #[test]
    fn json_has_update_id_first() {
        let mut q = UpdateQueue::new(BASE);
        let mut fields = Map::new();
        fields.insert("message".into(), serde_json::json!({"text": "hi"}));
        q.push(fields, 7, NOW).unwrap();
        let u = q.poll(0, 1, NOW).remove(0);
        assert_eq!(
            u.to_json(),
            format!("{{\"update_id\":{BASE},\"message\":{{\"text\":\"hi\"}}}}")
        );
    }
}
