//! The replay guard: ids remembered until expiry, bounded, never evicting.

use signet_authority::{ReplayError, ReplayGuard};

const NOW: u64 = 1_000;

fn id(n: u8) -> [u8; 16] {
    [n; 16]
}

#[test]
fn refuses_replayed_request_id_until_it_expires() {
    let mut g = ReplayGuard::new(4);
    g.remember(id(1), NOW + 600, NOW).unwrap();
    assert_eq!(
        g.remember(id(1), NOW + 600, NOW + 1),
        Err(ReplayError::Replayed(id(1)))
    );
    // Valid through its expiry second, so still refused then…
    assert_eq!(
        g.remember(id(1), NOW + 600, NOW + 600),
        Err(ReplayError::Replayed(id(1)))
    );
    assert!(g.contains(&id(1), NOW + 600));
    // …and forgotten after (the approvals themselves are expired by then).
    assert!(!g.contains(&id(1), NOW + 601));
    assert!(g.is_empty());
}

#[test]
fn refuses_when_full_instead_of_evicting() {
    let mut g = ReplayGuard::new(2);
    g.remember(id(1), NOW + 600, NOW).unwrap();
    g.remember(id(2), NOW + 10, NOW).unwrap();
    assert_eq!(
        g.remember(id(3), NOW + 600, NOW + 5),
        Err(ReplayError::Full(2))
    );
    // Nothing was pushed out: both are still refused.
    assert!(g.contains(&id(1), NOW + 5) && g.contains(&id(2), NOW + 5));
    assert_eq!(g.len(), 2);
    // Once one expires there is room again.
    g.remember(id(3), NOW + 600, NOW + 11).unwrap();
    assert_eq!(
        g.remember(id(1), NOW + 600, NOW + 11),
        Err(ReplayError::Replayed(id(1)))
    );
}

#[test]
fn refuses_an_expired_request() {
    let mut g = ReplayGuard::new(2);
    assert_eq!(
        g.remember(id(1), NOW - 1, NOW),
        Err(ReplayError::Expired(NOW - 1))
    );
    assert!(g.is_empty());
}

#[test]
fn a_full_guard_still_refuses_replays_first() {
    let mut g = ReplayGuard::new(1);
    g.remember(id(1), NOW + 60, NOW).unwrap();
    assert_eq!(
        g.remember(id(1), NOW + 60, NOW),
        Err(ReplayError::Replayed(id(1)))
    );
    assert_eq!(ReplayError::Full(1).refusal(), None);
}
