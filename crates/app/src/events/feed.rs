//! The event feed (`GET /assets/events`): a tenant's events, or one user's, in order after a
//! cursor, for engines that cannot receive webhooks; a read may wait for the next event.

use std::time::Duration;

use domain::{TenantId, UserId};
use ports::{EventQuery, EventStore, FeedPosition, LifecycleEvent};

use crate::{Deps, Directory, Error};

/// The longest `wait` of a feed read, in seconds.
pub const MAX_WAIT_SECONDS: u32 = 30;

/// One read of the feed.
#[derive(Debug, Clone)]
pub struct FeedRequest {
    pub tenant: TenantId,
    /// One user's events only; `None`: the whole tenant's.
    pub user: Option<UserId>,
    /// The cursor of the last page read (`EventPage::cursor`); `None` reads from the oldest kept.
    pub after: Option<FeedPosition>,
    pub limit: u32,
    /// How long to wait for an event when there is none yet (capped at the configured maximum).
    pub wait: Duration,
}

/// A page of events and the cursor to read the next one with.
#[derive(Debug, Clone)]
pub struct EventPage {
    pub events: Vec<LifecycleEvent>,
    /// The position of the last event listed, or the request's cursor when none was.
    pub cursor: FeedPosition,
}

impl<D: Deps> Directory<D> {
    /// The events after the request's cursor, at most its limit; when there are none, waits up to
    /// `wait` for one (looking again every poll interval) before answering an empty page.
    pub async fn event_feed(&self, request: FeedRequest) -> Result<EventPage, Error> {
        let settings = &self.settings().events;
        let after = request.after.unwrap_or_default();
        let query = EventQuery { tenant: request.tenant, user: request.user, after, limit: request.limit };
        let longest = Duration::from_secs(u64::from(MAX_WAIT_SECONDS));
        let give_up = tokio::time::Instant::now() + request.wait.min(longest);
        loop {
            let listed = self.ports().events.events_after(&query).await?;
            if !listed.is_empty() || tokio::time::Instant::now() >= give_up {
                let cursor = listed.last().map_or(after, |(position, _)| *position);
                return Ok(EventPage { events: listed.into_iter().map(|(_, e)| e).collect(), cursor });
            }
            tokio::time::sleep(settings.poll_interval.min(give_up - tokio::time::Instant::now())).await;
        }
    }
}
