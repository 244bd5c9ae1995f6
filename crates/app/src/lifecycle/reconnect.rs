//! Reconnecting in place (spec §2.3): `POST /assets/connect` with `server_config.ref_id` of an
//! `expired` or `failed` OAuth connection starts a new authorization for that same connection,
//! so the engine keeps its `ref_id`.

use domain::{AuthSpec, RefId, ServerName};
use ports::{AuditKind, Clock, ConnectionStore, FlowEvent, FlowStore, SecretsUpdate};

use crate::{Availability, ConnectOutcome, Deps, Directory, Error};

const FIELD: &str = "server_config.ref_id";

impl<D: Deps> Directory<D> {
    /// Re-authorizes the connection `ref_id` of `server_name`: it goes back to `pending_oauth`
    /// with a new flow, and the callback makes it `connected` again. Only `expired` and `failed`
    /// OAuth connections of a catalog server with a pre-registered client can be reconnected
    /// this way; a connection found through discovery is connected anew instead.
    pub async fn reconnect(
        &self,
        server_name: &ServerName,
        ref_id: &RefId,
        return_to: Option<String>,
    ) -> Result<ConnectOutcome, Error> {
        self.check_return_to(return_to.as_deref())?;
        let ports = self.ports();
        let mut connection = self.load(ref_id).await?;
        if &connection.server_name != server_name {
            return Err(Error::validation(FIELD, "names a connection to another server"));
        }
        let was = connection.status();
        if connection.reauthorize(ports.clock.now()).is_err() {
            return Err(Error::validation(
                FIELD,
                format!("only an expired or failed OAuth connection can be reconnected; this one is {was}"),
            ));
        }
        let entry = self.catalog().get(server_name).ok_or_else(|| Error::ServerNotFound(server_name.clone()))?;
        let AuthSpec::OAuth(oauth) = &entry.spec.auth else {
            return Err(Error::validation(FIELD, "the server no longer uses OAuth; connect it anew"));
        };
        if oauth.discovery {
            return Err(Error::validation(
                FIELD,
                "a connection found through discovery cannot be reconnected in place; connect it anew",
            ));
        }
        if let Availability::Unavailable(reason) = &entry.availability {
            return Err(Error::validation("server_name", format!("`{server_name}` is unavailable: {reason}")));
        }
        let (flow, auth_url) = self.start_flow(entry, oauth, ref_id, return_to)?;
        // The flow first: a connection must never wait for a callback that no flow can bring.
        ports.flows.put_flow(&flow).await?;
        if !ports.connections.update(&connection, was, &SecretsUpdate::ClearTokens).await? {
            // Deleted or reconnected meanwhile: withdraw this flow.
            if let Err(e) = ports.flows.take_flow(&flow.state_hash).await {
                tracing::warn!(%ref_id, error = %e, "could not withdraw the flow of a lost reconnect");
            }
            self.load(ref_id).await?;
            return Err(Error::validation(FIELD, "the connection changed meanwhile; look at it again"));
        }
        self.audit(&connection, AuditKind::Reauthorized, Some(format!("was {was}"))).await;
        self.metrics().oauth_flow(FlowEvent::Started);
        Ok(ConnectOutcome::PendingOAuth { ref_id: ref_id.clone(), auth_url })
    }
}
