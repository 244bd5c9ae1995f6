//! The test authorization server's own essentials, over real HTTP: the rules that the
//! Asset Directory's black-box tests rely on it to enforce.

mod authorize;
mod introspection;
mod support;
mod tokens;
