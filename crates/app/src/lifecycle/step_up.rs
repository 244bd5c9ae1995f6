//! Reauthorizing a connected connection for more scopes (issue 16, MCP authorization's scope
//! challenges): `POST /assets/connections/{ref_id}/reauthorize` starts a new consent for the
//! union of the scopes held and those asked; the connection stays `connected` and its token keeps
//! serving until the callback replaces it in place (same `ref_id`; `callback.rs`). An `expired`
//! or `failed` connection is reconnected in place instead (`reconnect.rs`).

use domain::{AuthMethod, AuthSpec, ConnectionStatus, EventType, Owner, ReasonCode, RefId, Scopes, Standing};
use ports::{AuditKind, FlowEvent, FlowStore, RegistrationStore, SecretsUpdate};

use crate::{Availability, ConnectOutcome, Deps, Directory, Error};

/// A consent started: where the user goes, and the connection's status meanwhile (`connected`
/// for more scopes, its token serving on; `pending_oauth` for a reconnect).
#[derive(Debug)]
pub struct Reauthorization {
    pub ref_id: RefId,
    pub auth_url: String,
    pub status: ConnectionStatus,
}

impl<D: Deps> Directory<D> {
    /// Starts the user's consent to `scopes` more for `owner`'s connection `ref_id`. At most
    /// `STEP_UP_MAX_ATTEMPTS` in a row (a call through the proxy that passes resets the count).
    pub async fn reauthorize(
        &self,
        owner: &Owner,
        ref_id: &RefId,
        scopes: Option<Scopes>,
        return_to: Option<String>,
    ) -> Result<Reauthorization, Error> {
        self.check_return_to(return_to.as_deref())?;
        let connection = self.load(owner, ref_id).await?;
        match connection.status() {
            ConnectionStatus::Connected => {}
            ConnectionStatus::Expired | ConnectionStatus::Failed => {
                let server_name = connection.server_name.clone();
                return match self.reconnect(owner, &server_name, ref_id, return_to).await? {
                    ConnectOutcome::PendingOAuth { ref_id, auth_url } => {
                        Ok(Reauthorization { ref_id, auth_url, status: ConnectionStatus::PendingOAuth })
                    }
                    ConnectOutcome::Connected { .. } => Err(Error::internal("a reconnect connected with no consent")),
                };
            }
            status @ ConnectionStatus::PendingOAuth => return Err(Error::ReconnectInProgress(status)),
        }
        if connection.auth_method != AuthMethod::OAuth || connection.grant.renews_alone() {
            return Err(Error::validation(
                "ref_id",
                "only an OAuth connection a user authorized can be authorized again for more scopes",
            ));
        }
        let max = self.settings().proxy.step_up_max_attempts;
        if self.step_ups_in_a_row(ref_id) >= max {
            return Err(Error::StepUpLimit(max));
        }
        let mut wanted = connection.scopes.clone();
        for scope in scopes.iter().flat_map(Scopes::iter) {
            wanted = wanted.with(scope);
        }
        let entry = self.catalog().get(&connection.server_name);
        let (flow, auth_url) = match entry.map(|e| (e, &e.spec.auth)) {
            Some((entry, AuthSpec::OAuth(oauth))) if !oauth.discovery => {
                if let Availability::Unavailable(reason) = &entry.availability {
                    return Err(Error::server_unavailable(reason));
                }
                self.start_flow(entry, oauth, ref_id, return_to, Some(&wanted))?
            }
            None | Some((_, AuthSpec::OAuth(_))) => {
                let (flow, auth_url, found) = self.rediscover(&connection, entry, return_to, Some(&wanted)).await?;
                // The token serving now is the bound server's: a consent at another would leave
                // the connection's refresh at one server and its new token from another.
                let bound = self.ports().registrations.authorization_of(ref_id).await?;
                let same = |b: &ports::DiscoveredAuthorization| {
                    (&b.issuer, &b.client_id, &b.resource) == (&found.issuer, &found.client_id, &found.resource)
                };
                if bound.is_some_and(|b| !same(&b)) {
                    return Err(Error::Provider {
                        step: "server metadata",
                        message:
                            "the MCP server's authorization (server, client or resource) changed; reconnect it anew"
                                .into(),
                    });
                }
                (flow, auth_url)
            }
            Some(_) => return Err(Error::validation("ref_id", "the server no longer uses OAuth; connect it anew")),
        };
        // The flow first; then the `step_up` event, written with the connection still connected
        // (it is what lets the callback complete a flow of a connected connection).
        self.ports().flows.put_flow(&flow).await?;
        let step_up = self.event(&connection, AuditKind::StepUp, Some(format!("scopes {}", wanted.to_delimited())));
        let connected = Standing::Status(ConnectionStatus::Connected);
        let (kind, why) = (EventType::ReauthorizationRequired, ReasonCode::InsufficientScope);
        let step_up = self.announcing(step_up, kind, Some(connected), connected, why);
        let recorded = self.store_update(&connection, ConnectionStatus::Connected, &SecretsUpdate::Keep, &step_up);
        if !recorded.await? {
            if let Err(e) = self.ports().flows.take_flow(&flow.state_hash).await {
                tracing::warn!(%ref_id, error = %e, "could not withdraw the flow of a lost step-up");
            }
            return Err(Error::ReconnectInProgress(self.load(owner, ref_id).await?.status()));
        }
        self.count_step_up(ref_id);
        self.metrics().oauth_flow(FlowEvent::Started, &connection.owner.tenant);
        Ok(Reauthorization { ref_id: ref_id.clone(), auth_url, status: ConnectionStatus::Connected })
    }
}
