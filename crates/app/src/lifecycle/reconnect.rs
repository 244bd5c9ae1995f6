//! Reconnecting in place (spec §2.3): `POST /assets/connect` with `server_config.ref_id` of an
//! `expired` or `failed` OAuth connection starts a new authorization for that same connection,
//! so the engine keeps its `ref_id`.

use domain::{AuthSpec, ConnectionStatus, Owner, RefId, ServerName};
use ports::{AuditKind, Clock, FlowEvent, FlowStore, RegistrationStore, SecretsUpdate};

use crate::{Availability, ConnectOutcome, Deps, Directory, Error};

const FIELD: &str = "server_config.ref_id";

impl<D: Deps> Directory<D> {
    /// Re-authorizes the connection `ref_id` of `server_name`: it goes back to `pending_oauth`
    /// with a new flow, and the callback makes it `connected` again. Only `expired` and `failed`
    /// OAuth connections can be reconnected; of reconnects racing for one connection, the one
    /// whose compare-and-set lands wins, and the others withdraw their flows and get
    /// [`Error::ReconnectInProgress`], as does a reconnect of a `pending_oauth` connection. A connection found through discovery is discovered
    /// again from its URL (and may be bound to another authorization server).
    pub async fn reconnect(
        &self,
        owner: &Owner,
        server_name: &ServerName,
        ref_id: &RefId,
        return_to: Option<String>,
    ) -> Result<ConnectOutcome, Error> {
        self.check_return_to(return_to.as_deref())?;
        let ports = self.ports();
        let mut connection = self.load(owner, ref_id).await?;
        if &connection.server_name != server_name {
            return Err(Error::validation(FIELD, "names a connection to another server"));
        }
        let was = connection.status();
        if was == ConnectionStatus::PendingOAuth {
            // Another reconnect (or the first connect) is waiting for its callback.
            return Err(Error::ReconnectInProgress(was));
        }
        if connection.reauthorize(ports.clock.now()).is_err() {
            return Err(Error::validation(
                FIELD,
                format!("only an expired or failed OAuth connection can be reconnected; this one is {was}"),
            ));
        }
        let entry = self.catalog().get(server_name);
        if connection.grant.renews_alone() {
            // No user to send anywhere: the service makes the grant itself, at a new connect.
            return Err(Error::validation(
                FIELD,
                "a connection made with no browser (client credentials, identity assertion) is not \
                 reconnected; connect it anew",
            ));
        }
        let (flow, auth_url, binding) = match entry.map(|e| (e, &e.spec.auth)) {
            Some((entry, AuthSpec::OAuth(oauth))) if !oauth.discovery => {
                if let Availability::Unavailable(reason) = &entry.availability {
                    return Err(Error::server_unavailable(reason));
                }
                let (flow, auth_url) = self.start_flow(entry, oauth, ref_id, return_to, None)?;
                (flow, auth_url, None)
            }
            // A custom server, or a catalog entry found through discovery: discover again.
            None | Some((_, AuthSpec::OAuth(_))) => {
                let (flow, auth_url, binding) = self.rediscover(&connection, entry, return_to, None).await?;
                (flow, auth_url, Some(binding))
            }
            Some(_) => return Err(Error::validation(FIELD, "the server no longer uses OAuth; connect it anew")),
        };
        // The flow first: a connection must never wait for a callback that no flow can bring.
        ports.flows.put_flow(&flow).await?;
        let reauthorized = self.event(&connection, AuditKind::Reauthorized, Some(format!("was {was}")));
        if !self.store_update(&connection, was, &SecretsUpdate::ClearTokens, &reauthorized).await? {
            // Deleted or reconnected meanwhile: withdraw this flow.
            if let Err(e) = ports.flows.take_flow(&flow.state_hash).await {
                tracing::warn!(%ref_id, error = %e, "could not withdraw the flow of a lost reconnect");
            }
            let now = self.load(owner, ref_id).await?;
            return Err(Error::ReconnectInProgress(now.status()));
        }
        // Only the winner binds the authorization server its flow is for (discovery may have
        // found another): a loser's binding would send the winner's code to the loser's server.
        // A callback before the binding lands is refused, its flow's issuer not being bound.
        if let Some(binding) = &binding {
            ports.registrations.bind_authorization(binding).await?;
        }
        self.metrics().oauth_flow(FlowEvent::Started, &connection.owner.tenant);
        Ok(ConnectOutcome::PendingOAuth { ref_id: ref_id.clone(), auth_url })
    }
}
