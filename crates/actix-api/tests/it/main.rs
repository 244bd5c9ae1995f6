//! The HTTP application over mocked ports: its OpenAPI document against the routes it really
//! serves, health and readiness, request ids and request metrics.

mod health;
mod hostile_input;
mod metrics;
mod openapi;
mod request_ids;
mod support;
