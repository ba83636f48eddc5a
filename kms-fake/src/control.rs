//! The control API (plain HTTP, for tests only): faults, key policies and
//! state, the call log, health.
//!
//! | route | effect |
//! |---|---|
//! | `GET /health` | 200 `{"status":"ok"}` |
//! | `GET /faults`, `POST /faults` | read / set fault counters (see [`crate::faults`]); returns the state |
//! | `PUT /policy?key=ID` | replace a key's policy (body: the policy JSON) |
//! | `POST /disable?key=ID`, `POST /enable?key=ID` | change a key's state |
//! | `GET /calls`, `DELETE /calls` | the KMS calls so far / forget them |
//!
//! Errors are `{"error": "..."}` with 400 (bad body), 404 (unknown key or route).

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};

use crate::faults::FaultUpdate;
use crate::policy::KeyPolicy;
use crate::server::{lock, Fake};

const MAX_CONTROL_BODY: usize = 1024 * 1024;

use signet_fake_support::{error_response as error, json_response as json};

fn query_param<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// Serves one control request.
pub async fn handle(fake: &Fake, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let Ok(body) = Limited::new(body, MAX_CONTROL_BODY).collect().await else {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
    };
    let body = body.to_bytes();
    let key = query_param(parts.uri.query(), "key");
    match (&parts.method, parts.uri.path()) {
        (&Method::GET, "/health") => json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
        (&Method::GET, "/faults") => json(StatusCode::OK, &*fake.faults()),
        (&Method::POST, "/faults") => match serde_json::from_slice::<FaultUpdate>(&body) {
            Ok(update) => {
                let mut faults = fake.faults();
                faults.apply(update);
                tracing::info!(faults = ?*faults, "faults set");
                json(StatusCode::OK, &*faults)
            }
            Err(e) => error(StatusCode::BAD_REQUEST, format!("fault update: {e}")),
        },
        (&Method::PUT, "/policy") => {
            let policy = match std::str::from_utf8(&body)
                .map_err(|e| e.to_string())
                .and_then(|text| KeyPolicy::from_json(text).map_err(|e| e.to_string()))
            {
                Ok(policy) => policy,
                Err(e) => return error(StatusCode::BAD_REQUEST, e),
            };
            with_key(fake, key, |key| {
                key.policy = policy;
                tracing::info!(key = key.arn, "key policy replaced");
            })
        }
        (&Method::POST, path @ ("/disable" | "/enable")) => {
            let enabled = path == "/enable";
            with_key(fake, key, |key| {
                key.enabled = enabled;
                tracing::info!(key = key.arn, enabled, "key state changed");
            })
        }
        (&Method::GET, "/calls") => json(StatusCode::OK, &fake.calls()),
        (&Method::DELETE, "/calls") => {
            fake.clear_calls();
            json(StatusCode::OK, &serde_json::json!([]))
        }
        _ => error(
            StatusCode::NOT_FOUND,
            format!("no route {} {}", parts.method, parts.uri.path()),
        ),
    }
}

fn with_key(
    fake: &Fake,
    key: Option<&str>,
    change: impl FnOnce(&mut crate::store::Key),
) -> Response<Full<Bytes>> {
    let Some(key_id) = key else {
        return error(StatusCode::BAD_REQUEST, "missing ?key=ID");
    };
    let mut store = lock(&fake.store);
    let id = match store.resolve(key_id) {
        Ok(key) => key.id.clone(),
        Err(e) => return error(StatusCode::NOT_FOUND, e),
    };
    match store.get_mut(&id) {
        Some(key) => {
            change(key);
            json(
                StatusCode::OK,
                &serde_json::json!({"key_id": key.arn, "enabled": key.enabled}),
            )
        }
        None => error(StatusCode::NOT_FOUND, format!("no key {id}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params() {
        assert_eq!(query_param(Some("key=k1"), "key"), Some("k1"));
        assert_eq!(query_param(Some("a=b&key=k2"), "key"), Some("k2"));
        assert_eq!(query_param(Some("keys=k"), "key"), None);
        assert_eq!(query_param(None, "key"), None);
    }
}
