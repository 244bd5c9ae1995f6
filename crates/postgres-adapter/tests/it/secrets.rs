//! The database password never shows: not in the store's `Debug`, not in its errors.

use std::error::Error;
use std::time::Duration;

use ports::ConnectionStore;
use postgres_adapter::{PgConfig, PgStore};

use crate::support::server_url_from;

/// A port nothing listens on.
fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

fn chain(e: &dyn Error) -> String {
    let mut text = format!("{e} / {e:?}");
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(" / {s} / {s:?}"));
        source = s.source();
    }
    text
}

#[tokio::test]
async fn the_password_appears_neither_in_debug_output_nor_in_errors() {
    let url = format!("postgres://ad:hunter2-secret@127.0.0.1:{}/ad", dead_port());
    let config = PgConfig { pool_size: 2, timeout: Duration::from_secs(2), worker_threads: 0 };

    let store = PgStore::connect_without_migrating(&url, config).expect("a lazy pool");
    assert!(!format!("{store:?}").contains("hunter2"), "{store:?}");
    let error = store.ping().await.expect_err("nothing listens there");
    assert!(!chain(&error).contains("hunter2"), "{}", chain(&error));

    let error = PgStore::connect(&url, config).await.expect_err("nothing listens there");
    assert!(!chain(&error).contains("hunter2"), "{}", chain(&error));

    let bad = "postgres://ad:hunter2-secret@127.0.0.1/ad?sslmode=sometimes";
    let error = PgStore::connect(bad, config).await.expect_err("an invalid URL");
    assert!(!chain(&error).contains("hunter2"), "{}", chain(&error));
}

#[test]
#[should_panic(expected = "Run `cargo xtask test`, which provides PostgreSQL")]
fn without_a_test_database_url_the_suite_fails_and_says_how_to_get_one() {
    server_url_from(None);
}
