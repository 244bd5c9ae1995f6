//! Black-box tests: the real service on a free loopback port, spoken to over HTTP.

mod browser;
mod browser_oauth;

mod backends;
mod callback_input;
mod callback_page;
mod catalog_input;
mod cli;
mod config_reference;
mod connect_body;
mod disconnect_races;
mod discovery;
mod errors;
mod flows_without_oauth;
mod head;
mod helpers;
mod key_guard;
mod key_rotation;
mod labels;
mod messages;
mod mix_up;
mod oauth_flow;
mod operations;
mod owners;
mod postgres;
mod protocol_garbage;
mod provider_words;
mod raw_http;
mod refresh;
mod registrations;
mod secrets;
mod served;
mod sessions;
mod stalled_body;
mod tenants;
