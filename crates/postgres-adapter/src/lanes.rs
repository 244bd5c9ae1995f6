//! The pool split into lanes, one per HTTP worker thread and one shared.
//!
//! tokio-postgres drives each connection's socket in a task spawned on the runtime that opened
//! it. actix-web runs every worker thread on a single-threaded runtime of its own, so with one
//! pool for the whole process a query on a connection opened by another worker crosses threads
//! twice (the request to the driver, the rows back), each a wake-up of a thread that may be
//! asleep: `cargo xtask bench` measured the credentials read at 0.33 of `pgbench -S` that way,
//! and at 0.45 with a lane per worker (docs/benchmarks.md). So a thread running a
//! single-threaded runtime gets a lane of its own, while there are lanes left; everything else
//! (the multi-threaded runtime of the background jobs, a thread past the last lane) draws from
//! the shared one. The lanes together never hold more than the configured pool size.

use std::sync::atomic::{AtomicUsize, Ordering};

use thread_local::ThreadLocal;

/// How a pool of `pool_size` connections is split for `threads` worker threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split {
    /// How many threads get a lane of their own.
    pub(crate) own_lanes: usize,
    /// The size of each of those lanes.
    pub(crate) per_lane: usize,
    /// The size of the shared lane (what is left).
    pub(crate) shared: usize,
}

impl Split {
    /// Equal shares for the worker lanes and the shared lane, the shared lane taking the rest.
    /// Every lane has at least one connection, so when the pool is smaller than the lanes,
    /// fewer threads get one of their own.
    pub(crate) fn of(pool_size: usize, threads: usize) -> Self {
        let pool_size = pool_size.max(1);
        let own_lanes = threads.min(pool_size - 1);
        let per_lane = pool_size / (own_lanes + 1);
        Self { own_lanes, per_lane, shared: pool_size - per_lane * own_lanes }
    }
}

/// The lanes of pools of type `P` (a deadpool pool in the store; anything in the tests).
pub(crate) struct Lanes<P: Send + Sync> {
    shared: P,
    own: ThreadLocal<P>,
    split: Split,
    /// Lanes handed out so far; a lane stays with its thread's slot, which the next thread
    /// to take that slot inherits once the thread has ended.
    taken: AtomicUsize,
    make: Box<dyn Fn(usize) -> P + Send + Sync>,
}

impl<P: Send + Sync> Lanes<P> {
    /// `make(n)` builds a pool of at most `n` connections; it opens none yet.
    pub(crate) fn new(split: Split, make: impl Fn(usize) -> P + Send + Sync + 'static) -> Self {
        Self {
            shared: make(split.shared),
            own: ThreadLocal::new(),
            split,
            taken: AtomicUsize::new(0),
            make: Box::new(make),
        }
    }

    /// The pool for the calling thread.
    pub(crate) fn pool(&self) -> &P {
        if !on_single_threaded_runtime() {
            return &self.shared;
        }
        self.own
            .get_or_try(|| if self.claim() { Ok((self.make)(self.split.per_lane)) } else { Err(()) })
            .unwrap_or(&self.shared)
    }

    /// Every pool made so far, the shared one first (for the metrics).
    pub(crate) fn all(&self) -> impl Iterator<Item = &P> {
        std::iter::once(&self.shared).chain(self.own.iter())
    }

    /// The most connections all lanes together may open.
    pub(crate) fn max_size(&self) -> usize {
        self.split.shared + self.split.per_lane * self.split.own_lanes
    }

    fn claim(&self) -> bool {
        let own_lanes = self.split.own_lanes;
        self.taken.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < own_lanes).then_some(n + 1)).is_ok()
    }
}

fn on_single_threaded_runtime() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|runtime| runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A stand-in pool: its size and a serial number.
    #[derive(Debug, PartialEq, Eq)]
    struct Fake {
        size: usize,
        serial: usize,
    }

    fn lanes(pool_size: usize, threads: usize) -> Arc<Lanes<Fake>> {
        let made = AtomicUsize::new(0);
        Arc::new(Lanes::new(Split::of(pool_size, threads), move |size| Fake {
            size,
            serial: made.fetch_add(1, Ordering::Relaxed),
        }))
    }

    /// A thread running a single-threaded runtime that takes its pool, reports the pool's
    /// serial, and lives on until the sender it returns is dropped.
    fn worker(lanes: &Arc<Lanes<Fake>>) -> (usize, Worker) {
        let lanes = Arc::clone(lanes);
        let (serial_tx, serial_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let (first, again) = runtime.block_on(async { (lanes.pool().serial, lanes.pool().serial) });
            assert_eq!(first, again, "a thread keeps its lane");
            serial_tx.send(first).unwrap();
            let _ = release_rx.recv();
        });
        (serial_rx.recv().unwrap(), Worker { release: release_tx, thread })
    }

    struct Worker {
        release: std::sync::mpsc::Sender<()>,
        thread: std::thread::JoinHandle<()>,
    }

    impl Worker {
        /// Ends the thread (and with it its claim on the slot of its lane).
        fn end(self) {
            drop(self.release);
            self.thread.join().unwrap();
        }
    }

    #[test]
    fn the_lanes_never_add_up_to_more_than_the_pool_size() {
        for pool_size in 0..40 {
            for threads in 0..20 {
                let split = Split::of(pool_size, threads);
                assert_eq!(split.shared + split.per_lane * split.own_lanes, pool_size.max(1), "{pool_size}/{threads}");
                assert!(split.per_lane >= 1 && split.shared >= split.per_lane, "{split:?}");
                assert!(split.own_lanes <= threads);
            }
        }
        assert_eq!(Split::of(12, 2), Split { own_lanes: 2, per_lane: 4, shared: 4 });
        assert_eq!(Split::of(2, 2), Split { own_lanes: 1, per_lane: 1, shared: 1 });
        assert_eq!(Split::of(1, 8), Split { own_lanes: 0, per_lane: 1, shared: 1 });
    }

    #[test]
    fn each_worker_thread_gets_a_lane_of_its_own_until_none_are_left() {
        let lanes = lanes(12, 2);
        let (one, _keep_one) = worker(&lanes);
        let (two, _keep_two) = worker(&lanes);
        let (three, _keep_three) = worker(&lanes);
        assert!(one != 0 && two != 0 && one != two, "two lanes of their own (the shared pool is 0): {one}, {two}");
        assert_eq!(three, 0, "a third worker shares");
        assert_eq!(lanes.own.iter().count(), 2);
        assert!(lanes.own.iter().all(|pool| pool.size == 4));
        assert_eq!(lanes.max_size(), 12);
    }

    #[test]
    fn a_lane_passes_to_the_next_thread_once_its_thread_has_ended() {
        let lanes = lanes(2, 2);
        let (first, ended) = worker(&lanes);
        ended.end();
        let (next, _keep) = worker(&lanes);
        assert_ne!(first, 0);
        assert_eq!(next, first, "the only lane, inherited; no new one is made");
    }

    #[test]
    fn a_multi_threaded_runtime_and_a_thread_without_one_use_the_shared_pool() {
        let lanes = lanes(12, 2);
        assert_eq!(lanes.pool().serial, 0, "no runtime");
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        let inner = Arc::clone(&lanes);
        assert_eq!(runtime.block_on(async move { tokio::spawn(async move { inner.pool().serial }).await.unwrap() }), 0);
        assert_eq!(lanes.own.iter().count(), 0);
    }
}
