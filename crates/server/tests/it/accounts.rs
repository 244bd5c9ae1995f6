//! Accounts: who signed in at the provider, listed on a connection made through the callback and
//! kept across refreshes, while the `id_token` that named them goes nowhere.

use std::time::Duration;

use serde_json::{Value, json};
use test_oauth_server::{TestAuthConfig, TestAuthServer};

use crate::backends::{Backend, database, on, on_both_backends};
use crate::helpers::{Spawn, captured_logs};
use crate::oauth_flow::{CLIENT_SECRET, oauth_catalog, start_flow};

/// Every row of every table of the PostgreSQL schema `url` sees, as text.
async fn postgres_rows(url: &str) -> String {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let tables = client
        .query("SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()", &[])
        .await
        .expect("tables");
    let mut rows = String::new();
    for table in tables {
        let name: String = table.get(0);
        for row in client.query(&format!("SELECT t::text FROM \"{name}\" t"), &[]).await.expect("rows") {
            rows.push_str(&row.get::<_, String>(0));
            rows.push('\n');
        }
    }
    rows
}

async fn a_connection_lists_its_account_keeps_it_on_refresh_and_stores_no_id_token(backend: Backend) {
    let auth = TestAuthServer::start(TestAuthConfig {
        id_token_claims: Some(json!({"sub": "user-42", "email": "ada@example.com", "email_verified": true})),
        access_token_lifetime: Some(Duration::from_secs(30)),
        ..TestAuthConfig::default()
    })
    .await;
    let db = database(backend).await;
    let spawn = Spawn::default().catalog(oauth_catalog(&auth)).var("ACME_CLIENT_SECRET", CLIENT_SECRET);
    let app = on(spawn, &db).start().await;
    let mut bodies = Vec::new();

    let (ref_id, callback) = start_flow(&app, json!({"server_name": "acme", "label": "work"})).await;
    bodies.push(app.client.get(&callback).send().await.unwrap().text().await.unwrap());
    let one = format!("/assets/connections/{ref_id}");
    let read: Value = app.get(&one).await.json().await.unwrap();
    assert_eq!(read["status"], "connected", "{read}");
    assert_eq!(read["account"], "ada@example.com", "the id_token's email names the account");
    let list: Vec<Value> = app.get("/assets/connections").await.json().await.unwrap();
    assert_eq!(list[0]["account"], "ada@example.com", "{list:?}");
    assert_eq!(list[0]["label"], "work");
    bodies.extend([read.to_string(), Value::from(list).to_string()]);

    // Tokens live 30 s, inside the credential margin: this call refreshes, and the refresh's
    // response carries no id_token.
    bodies.push(app.get(&format!("{one}/credentials")).await.text().await.unwrap());
    assert_eq!(auth.counters().refreshes, 1, "the credentials call refreshed");
    let refreshed: Value = app.get(&one).await.json().await.unwrap();
    assert_eq!(refreshed["account"], "ada@example.com", "a refresh without an id_token keeps it");
    bodies.push(refreshed.to_string());

    let id_tokens = auth.id_tokens();
    assert_eq!(id_tokens.len(), 1, "the provider answered one id_token");
    let signature = id_tokens[0].rsplit('.').next().expect("a JWS");
    let logs = captured_logs();
    let stored = match &db {
        Some(url) => postgres_rows(url).await,
        None => {
            let dir = app.stop().await;
            let bytes = ["ad.db", "ad.db-wal"].map(|f| std::fs::read(dir.path().join(f)).unwrap_or_default());
            String::from_utf8_lossy(&bytes.concat()).into_owned()
        }
    };
    assert!(stored.contains("ada@example.com"), "the scan reads the stored rows");
    for (place, text) in bodies.iter().map(|b| ("an answer", b)).chain([("the logs", &logs), ("the database", &stored)])
    {
        assert!(!text.contains(&id_tokens[0]) && !text.contains(signature), "{place} holds the id_token");
    }
}

on_both_backends! {
    a_connection_lists_its_account_keeps_it_on_refresh_and_stores_no_id_token =>
        a_connection_lists_its_account_keeps_it_on_refresh_and_stores_no_id_token_on_sqlite,
        a_connection_lists_its_account_keeps_it_on_refresh_and_stores_no_id_token_on_postgres;
}
