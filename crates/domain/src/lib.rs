//! The Asset Directory's domain: what a connection is, which states it moves through, and the
//! value objects (`RefId`, `ServerName`, `Scopes`, server specs) that can only be built valid.
//!
//! Architecture invariant: this crate performs no I/O, has no async code and knows nothing of
//! serde, HTTP or databases. Everything here is a plain value that other layers translate to
//! and from their own representations.

mod connection;
mod event;
mod ids;
mod owner;
mod scopes;
mod server;
mod session;
pub mod text;
mod time;

pub use connection::{Connection, ConnectionStatus, NewConnection, TransitionError};
pub use event::{EventId, EventType, ReasonCode, Standing, WebhookId};
pub use ids::{Account, Label, ParseError, RefId, ServerName};
pub use owner::{Owner, TenantId, UserId};
pub use scopes::Scopes;
pub use server::{
    ApiKeySpec, AuthMethod, AuthSpec, OAuthGrant, OAuthSpec, RegistrationMode, ServerSpec, SigningAlgorithm,
    TokenEndpointAuth, Transport,
};
pub use session::ConnectSession;
pub use time::Timestamp;
