//! Black-box tests: the real service on a free loopback port, spoken to over HTTP.

mod discovery;
mod errors;
mod flows_without_oauth;
mod helpers;
mod key_guard;
mod oauth_flow;
mod postgres;
mod secrets;
