//! Property tests of the decoders of outside bytes: frames and tickets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use signet_proto::frame::{self, FrameError, MAX_FRAME_LEN};
use signet_proto::message::{Envelope, SignRequest};
use signet_proto::ticket::{Expected, TicketClaims, TicketKeys, AUDIENCE};
use signet_proto::{KeyType, Request, Response, SharedSecret};

fn keys() -> TicketKeys {
    TicketKeys::new(
        SharedSecret::new_unchecked(b"proptest-ticket-key-0123456789abcdef".to_vec()),
        None,
    )
}

fn key_type() -> impl Strategy<Value = KeyType> {
    prop::sample::select(KeyType::ALL.to_vec())
}

fn sign_request() -> impl Strategy<Value = Request> {
    (
        "[a-z0-9-]{1,64}",
        ".{0,300}",
        proptest::collection::vec(any::<u8>(), 32),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..512)),
        any::<bool>(),
    )
        .prop_map(|(key_id, ticket, digest, message, attest)| {
            Request::Sign(SignRequest {
                key_id,
                ticket,
                digest,
                message,
                attest,
                sealed: None,
                record: None,
                content: None,
                approvals: Vec::new(),
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = frame::decode::<Request>(&bytes);
        let _ = frame::decode::<Response>(&bytes);
        let _ = signet_proto::SealedKey::from_bytes(&bytes);
        let _ = keys().verify_unbound(&String::from_utf8_lossy(&bytes), 0);
    }

    #[test]
    fn requests_round_trip(id in any::<u64>(), req in sign_request(), kt in key_type(), key_id in "[a-z]{1,20}") {
        for body in [req, Request::Generate { key_id: key_id.clone(), key_type: kt, settings: None }, Request::Destroy { key_id }, Request::List { after: None, limit: None }] {
            let env = Envelope { id, body };
            let bytes = frame::encode(&env).unwrap();
            let len = frame::parse_prefix(bytes[..4].try_into().unwrap()).unwrap();
            prop_assert_eq!(len, bytes.len() - 4);
            prop_assert_eq!(frame::decode::<Request>(&bytes[4..]).unwrap(), env);
        }
    }

    #[test]
    fn truncated_or_extended_frames_are_refused(req in sign_request(), cut in any::<prop::sample::Index>(), extra in 1u8..=255) {
        let bytes = frame::encode(&Envelope { id: 1, body: req }).unwrap();
        let body = &bytes[4..];
        let at = cut.index(body.len());
        prop_assert!(frame::decode::<Request>(&body[..at]).is_err());
        let mut longer = body.to_vec();
        longer.push(extra);
        prop_assert!(frame::decode::<Request>(&longer).is_err());
    }

    #[test]
    fn every_prefix_over_the_cap_is_refused(len in (MAX_FRAME_LEN as u32 + 1)..=u32::MAX) {
        prop_assert!(matches!(frame::parse_prefix(len.to_be_bytes()), Err(FrameError::TooLarge(_))));
    }

    #[test]
    fn tickets_round_trip_and_any_byte_change_is_refused(
        jti in "[a-f0-9]{8,64}", wid in "[a-z0-9-]{1,40}", digest in proptest::collection::vec(any::<u8>(), 32),
        kt in key_type(), at in any::<prop::sample::Index>(), replacement in any::<u8>(),
    ) {
        let now = 1_700_000_000;
        let claims = TicketClaims { jti, sub: "s".into(), wid: wid.clone(), dig: hex::encode(&digest), kty: kt, iat: now, exp: now + 60, aud: AUDIENCE.into() };
        let token = keys().mint(&claims);
        let expected = Expected { wid: &wid, digest: &digest, kty: kt };
        prop_assert_eq!(keys().verify(&token, now, &expected).unwrap(), claims);
        let mut bytes = token.clone().into_bytes();
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != replacement);
        bytes[i] = replacement;
        let changed = String::from_utf8_lossy(&bytes).into_owned();
        prop_assert!(keys().verify(&changed, now, &expected).is_err(), "changed byte {} accepted", i);
    }
}
