//! The `asset-directory` service: configuration (spec §4), logging, the catalog loader, and
//! the composition root that wires every concrete adapter into the use cases and the HTTP API.
//!
//! Architecture invariant: this is the only crate that names every adapter. `main.rs` parses
//! the command line and calls into this library, so black-box tests can start the same service.

pub mod background;
pub mod catalog;
pub mod commands;
pub mod config;
pub mod database;
pub mod dev_keys;
pub mod engine_keys;
pub mod startup;
pub mod telemetry;
