//! Tenant isolation of the webhook endpoints and the feed, with random inputs: random (tenant,
//! endpoint, route) calls over three tenants' endpoints, checked against a model of who owns
//! what. Another tenant's endpoint answers `404 WEBHOOK_NOT_FOUND` and changes nothing on every
//! route; in the end each tenant lists exactly its own endpoints, and each feed only its events.

use std::cell::RefCell;
use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::connect_keyed;
use crate::helpers::{ENGINE_KEY, Spawn, TestApp};
use crate::tenants::{ACME_KEY, BETA_KEY, keys_file, keys_toml};

const KEYS: [&str; 3] = [ACME_KEY, BETA_KEY, ENGINE_KEY];
const ROUTES: usize = 6;

/// The endpoints: id, the key of the tenant that made it, whether it still exists.
struct Model {
    endpoints: Vec<(String, &'static str, bool)>,
}

async fn call(app: &TestApp, key: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = app.client.request(method, app.url(path)).header("X-Engine-Key", key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

impl Model {
    /// Caller `key` calls `route` on endpoint `pick`; 1 when it reached another tenant's.
    async fn call(&mut self, app: &TestApp, key: &'static str, pick: usize, route: usize) -> u32 {
        let (id, owner, alive) = self.endpoints[pick].clone();
        let base = format!("/assets/webhooks/{id}");
        let (status, body) = match route {
            0 => call(app, key, Method::GET, &base, None).await,
            1 => call(app, key, Method::PATCH, &base, Some(json!({"url": "http://127.0.0.1:9/moved"}))).await,
            2 => call(app, key, Method::POST, &format!("{base}/rotate-secret"), Some(json!({}))).await,
            3 => call(app, key, Method::GET, &format!("{base}/deliveries"), None).await,
            4 => {
                call(app, key, Method::POST, &format!("{base}/deliveries/evt_aaaaaaaaaaaaaaaaaaaaaaaaaa/retry"), None)
                    .await
            }
            _ => call(app, key, Method::DELETE, &base, None).await,
        };
        let mine = key == owner && alive;
        if !mine {
            assert_eq!(
                (status, body["error"].as_str()),
                (StatusCode::NOT_FOUND, Some("WEBHOOK_NOT_FOUND")),
                "{route}: {body}"
            );
            return u32::from(key != owner && status.is_success());
        }
        match route {
            4 => assert_eq!(body["error"], "DELIVERY_NOT_FOUND", "{body}"),
            5 => {
                assert_eq!(status, StatusCode::NO_CONTENT);
                self.endpoints[pick].2 = false;
            }
            _ => assert!(status.is_success(), "{route}: {status} {body}"),
        }
        0
    }
}

#[test]
fn random_tenants_endpoints_and_routes_never_reach_another_tenants_endpoint() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (_dir, path) = keys_file(&keys_toml(&[("acme", &[ACME_KEY], &[]), ("beta", &[BETA_KEY], &[])]));
    let app = runtime.block_on(Spawn::default().var("ENGINE_KEYS_FILE", &path.display().to_string()).start());
    let mut endpoints = Vec::new();
    for key in KEYS {
        let mut caller = app.clone();
        caller.key = key.to_owned();
        for _ in 0..2 {
            let (id, _) = runtime.block_on(super::register(&caller, "http://127.0.0.1:9/hooks", None));
            endpoints.push((id, key, true));
        }
        runtime.block_on(connect_keyed(&caller, Some("alice")));
    }
    let model = RefCell::new(Model { endpoints });
    let crossed = std::cell::Cell::new(0);
    let calls = (0..KEYS.len(), 0..6usize, 0..ROUTES);
    let mut runner = TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() });
    runner
        .run(&prop::collection::vec(calls, 1..6), |batch| {
            for (caller, pick, route) in batch {
                let mut model = model.borrow_mut();
                crossed.set(crossed.get() + runtime.block_on(model.call(&app, KEYS[caller], pick, route)));
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(crossed.get(), 0, "calls that reached another tenant's endpoint");

    let model = model.borrow();
    let mut feeds = BTreeMap::new();
    for key in KEYS {
        let listed = runtime.block_on(call(&app, key, Method::GET, "/assets/webhooks", None)).1;
        let mut listed: Vec<_> =
            listed.as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap().to_owned()).collect();
        let mut own: Vec<_> =
            model.endpoints.iter().filter(|(_, k, alive)| *k == key && *alive).map(|(id, ..)| id.clone()).collect();
        listed.sort();
        own.sort();
        assert_eq!(listed, own, "tenant of {key} lists exactly its own endpoints");
        let feed = runtime.block_on(call(&app, key, Method::GET, "/assets/events", None)).1;
        feeds.insert(key, feed["events"].as_array().unwrap().iter().map(|e| e["id"].clone()).collect::<Vec<_>>());
    }
    let all: Vec<_> = feeds.values().flatten().collect();
    assert_eq!(all.len(), 3, "one event per tenant, each in its own feed only: {feeds:?}");
    assert!(feeds.values().all(|f| f.len() == 1), "{feeds:?}");
}
