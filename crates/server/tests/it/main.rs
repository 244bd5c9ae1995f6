//! Black-box tests: the real service on a free loopback port, spoken to over HTTP.

mod discovery;
mod cli;
mod errors;
mod flows_without_oauth;
mod helpers;
mod key_guard;
mod key_rotation;
mod oauth_flow;
mod postgres;
mod secrets;
