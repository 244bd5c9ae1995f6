//! Which change announces which lifecycle event. Each is a [`Notice`] put on the audit event of
//! the change, so the store writes it with the change or not at all.

use domain::{ConnectionStatus, EventType, ReasonCode, Standing};
use ports::{AuditEvent, IdSource, Notice};

use crate::{Deps, Directory};

impl<D: Deps> Directory<D> {
    /// `event`, announcing `kind`: the connection stood at `previous` (`None`: it did not exist)
    /// and stands at `standing` now, for `reason`.
    pub(crate) fn announcing(
        &self,
        mut event: AuditEvent,
        kind: EventType,
        previous: Option<Standing>,
        standing: Standing,
        reason: ReasonCode,
    ) -> AuditEvent {
        event.notice = Some(Notice { id: self.ports().ids.event_id(), kind, standing, previous, reason });
        event
    }

    /// `event` announcing that its connection is `connected` now, having stood at `previous`.
    pub(crate) fn announcing_connected(
        &self,
        event: AuditEvent,
        previous: Option<ConnectionStatus>,
        reason: ReasonCode,
    ) -> AuditEvent {
        let connected = Standing::Status(ConnectionStatus::Connected);
        self.announcing(event, EventType::Connected, previous.map(Standing::Status), connected, reason)
    }

    /// Whether a transient refresh failure, after `failures_before` in a row, is the one that
    /// makes the connection `refresh_failing` (announced once per run of failures).
    pub(crate) fn starts_failing(&self, failures_before: u32) -> bool {
        failures_before.saturating_add(1) == self.settings().events.refresh_failing_after.max(1)
    }

    /// Whether a successful refresh after `failures_before` failures in a row recovers a
    /// connection that was announced `refresh_failing`.
    pub(crate) fn recovers(&self, failures_before: u32) -> bool {
        failures_before >= self.settings().events.refresh_failing_after.max(1)
    }
}
