//! Listing connections with one store read shared by every caller waiting for one.
//!
//! A listing reads every row, so under concurrent calls the reads are the cost. Callers that
//! arrive while a read is running do not join it (it may have started before a write they have
//! already seen completed); they wait for the next one, which starts as soon as the running
//! one ends and serves all of them. So each caller's answer comes from a read that started
//! after it called, exactly as if it had read alone, and a busy replica makes one read per
//! round trip of the database instead of one per caller. The reads run in a task of their own,
//! so a caller that goes away cancels nothing the others wait for. Reads are shared only
//! between callers of one owner asking for the same page: each has its own round of reads.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use domain::{Connection, Owner};
use ports::{ConnectionPosition, ConnectionQuery, ConnectionStore, StoreError};
use tokio::sync::oneshot;

use crate::{Deps, Directory, Error};

/// One page of an owner's connections, and where the next one starts (`None` on the last).
#[derive(Debug, Clone)]
pub struct ConnectionPage {
    pub connections: Arc<[Connection]>,
    pub next: Option<ConnectionPosition>,
}

type Answer = Result<ConnectionPage, Arc<StoreError>>;

/// Whose which page.
type Key = (Owner, ConnectionQuery);

/// Per owner and page: who waits for the next read, and whether a reading task runs.
#[derive(Default)]
pub(crate) struct SharedListing(Mutex<HashMap<Key, Waiting>>);

#[derive(Default)]
struct Waiting {
    reading: bool,
    callers: Vec<oneshot::Sender<Answer>>,
}

impl SharedListing {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Waiting>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<D: Deps> Directory<D> {
    /// One page of the connections of `owner` (see [`ConnectionQuery`]), oldest first. Never
    /// carries a secret. Concurrent callers of one owner asking for the same page share reads,
    /// and each sees every write completed before it called (see the module).
    pub async fn list_connections(&self, owner: &Owner, query: &ConnectionQuery) -> Result<ConnectionPage, Error> {
        let key = (owner.clone(), query.clone());
        // A reading task that went away without answering (its runtime shut down) is replaced
        // by the next caller; this caller tries once more before giving up.
        for _ in 0..2 {
            match self.wait_for_next_read(&key).await {
                Ok(Ok(connections)) => return Ok(connections),
                Ok(Err(shared)) => return Err(Error::from(unshare(&shared))),
                Err(oneshot::error::RecvError { .. }) => continue,
            }
        }
        Err(Error::internal("the shared listing read ended without an answer"))
    }

    async fn wait_for_next_read(&self, key: &Key) -> Result<Answer, oneshot::error::RecvError> {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut keys = self.inner.listing.lock();
            let waiting = keys.entry(key.clone()).or_default();
            waiting.callers.push(answer);
            !std::mem::replace(&mut waiting.reading, true)
        };
        if start {
            let (directory, key) = (self.clone(), key.clone());
            tokio::spawn(async move { directory.read_for_waiting_callers(key).await });
        }
        answered.await
    }

    /// Reads for whoever of `key` waits, round after round, until nobody does (and then
    /// forgets the key, so the map holds only pages being listed).
    async fn read_for_waiting_callers(&self, key: Key) {
        let mut stopped = Stopped { listing: &self.inner.listing, key: &key, normally: false };
        loop {
            let callers = {
                let mut keys = self.inner.listing.lock();
                let waiting = keys.entry(key.clone()).or_default();
                if waiting.callers.is_empty() {
                    keys.remove(&key);
                    stopped.normally = true;
                    return;
                }
                std::mem::take(&mut waiting.callers)
            };
            let answer: Answer = self.read_page(&key.0, &key.1).await.map_err(Arc::new);
            for caller in callers {
                // A caller that went away no longer listens.
                let _ = caller.send(answer.clone());
            }
        }
    }
}

impl<D: Deps> Directory<D> {
    /// One page, read with one row more than asked: its presence says a next page exists.
    async fn read_page(&self, owner: &Owner, query: &ConnectionQuery) -> Result<ConnectionPage, StoreError> {
        let one_more = ConnectionQuery { limit: query.limit.saturating_add(1), ..query.clone() };
        let mut rows = self.ports().connections.list_page(owner, &one_more).await?;
        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        let next = (rows.len() > limit).then(|| {
            rows.truncate(limit);
            rows.last().map(|last| ConnectionPosition { created_at: last.created_at, ref_id: last.ref_id.clone() })
        });
        Ok(ConnectionPage { connections: Arc::from(rows), next: next.flatten() })
    }
}

/// Unless the reading task returned normally (it panicked, or its runtime dropped it at an
/// `await`), the next caller must start a new one: `reading` is cleared, and the waiting
/// callers, whose senders go with the list, try again.
struct Stopped<'a> {
    listing: &'a SharedListing,
    key: &'a Key,
    normally: bool,
}

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        if !self.normally {
            self.listing.lock().remove(self.key);
        }
    }
}

/// A store error each waiting caller can own, with the same kind, message and cause.
fn unshare(shared: &Arc<StoreError>) -> StoreError {
    match &**shared {
        StoreError::Unavailable(_) => StoreError::Unavailable(Box::new(SharedCause(Arc::clone(shared)))),
        StoreError::Conflict(message) => StoreError::Conflict(message.clone()),
        StoreError::Corrupt(message) => StoreError::Corrupt(message.clone()),
        StoreError::Internal(_) => StoreError::Internal(Box::new(SharedCause(Arc::clone(shared)))),
    }
}

/// The cause of a shared store error: displays and chains as the original's cause did.
struct SharedCause(Arc<StoreError>);

impl fmt::Debug for SharedCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.source() {
            Some(cause) => fmt::Debug::fmt(cause, f),
            None => fmt::Debug::fmt(&self.0, f),
        }
    }
}

impl fmt::Display for SharedCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.source() {
            Some(cause) => fmt::Display::fmt(cause, f),
            None => fmt::Display::fmt(&self.0, f),
        }
    }
}

impl StdError for SharedCause {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source().and_then(StdError::source)
    }
}

#[cfg(test)]
#[path = "listing_tests.rs"]
mod tests;
