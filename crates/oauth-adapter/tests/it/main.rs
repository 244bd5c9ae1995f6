//! The OAuth adapter against the in-repo authorization server over loopback HTTP: real code
//! exchanges, refreshes and revocations, every failure class, and the SSRF guard.

mod discovery;
mod failures;
mod flows;
mod identity;
mod legacy_servers;
mod support;
