//! The operator commands of the binary besides `serve`: `hash-key`, `migrate` and `reencrypt`.
//! `main.rs` parses the command line and prints the outcome; the work is done here, where the
//! tests reach it too.

pub mod hash_key;
pub mod migrate;
pub mod reencrypt;
