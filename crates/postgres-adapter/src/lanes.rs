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
//! the shared one, and so does a worker whose own lane has lent everything for [`GRACE`] while
//! the shared one has room (a cross-thread hop costs less than a long wait). The lanes together never hold more than the
//! configured pool size, and a pool too small to give every lane two connections is not split.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use deadpool::managed::{Manager, Object, Pool, PoolError, TimeoutType, Timeouts};
use thread_local::ThreadLocal;

/// How a pool of `pool_size` connections is split for `threads` worker threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split {
    /// How many threads get a lane of their own.
    pub(crate) own_lanes: usize,
    /// The size of each lane, the shared one's too…
    pub(crate) per_lane: usize,
    /// …and one more for this many of the worker lanes (the first claimed): the remainder.
    pub(crate) larger_lanes: usize,
}

impl Split {
    /// Equal shares for the worker lanes and the shared lane, the remainder one each to the
    /// first worker lanes. When that leaves a lane fewer than two connections, the pool is not
    /// split: one lane, shared by every thread, as before lanes.
    pub(crate) fn of(pool_size: usize, threads: usize) -> Self {
        let pool_size = pool_size.max(1);
        let per_lane = pool_size / (threads + 1);
        if threads == 0 || per_lane < 2 {
            return Self { own_lanes: 0, per_lane: pool_size, larger_lanes: 0 };
        }
        Self { own_lanes: threads, per_lane, larger_lanes: pool_size - per_lane * (threads + 1) }
    }

    /// The size of worker lane `index` (in the order they were claimed).
    fn lane(&self, index: usize) -> usize {
        self.per_lane + usize::from(index < self.larger_lanes)
    }

    /// The most connections all lanes together may open.
    pub(crate) fn total(&self) -> usize {
        self.per_lane * (self.own_lanes + 1) + self.larger_lanes
    }
}

/// How long a worker waits for a connection of its own lane before it looks at the shared one.
const GRACE: Duration = Duration::from_millis(50);

/// The lanes of pools of type `P` (deadpool pools in the store and its tests).
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
        let shared = make(split.per_lane);
        Self { shared, own: ThreadLocal::new(), split, taken: AtomicUsize::new(0), make: Box::new(make) }
    }

    /// The calling thread's own lane: `None` unless it runs a single-threaded runtime and has
    /// (or can still claim) one.
    fn own(&self) -> Option<&P> {
        if !on_single_threaded_runtime() {
            return None;
        }
        self.own.get_or_try(|| self.claim().map(|index| (self.make)(self.split.lane(index)))).ok()
    }

    /// Every pool made so far, the shared one first (for the metrics).
    pub(crate) fn all(&self) -> impl Iterator<Item = &P> {
        std::iter::once(&self.shared).chain(self.own.iter())
    }

    /// The most connections all lanes together may open.
    pub(crate) fn max_size(&self) -> usize {
        self.split.total()
    }

    /// The index of a lane not handed out yet, if one is left.
    fn claim(&self) -> Result<usize, ()> {
        let own_lanes = self.split.own_lanes;
        self.taken.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < own_lanes).then_some(n + 1)).map_err(drop)
    }
}

impl<M: Manager> Lanes<Pool<M>> {
    /// A connection for the calling thread: from its own lane, or, when that has none to lend
    /// within [`GRACE`] while the shared lane has room, from the shared lane (a cross-thread
    /// hop costs less than a wait); else it goes on waiting in its own. Waits are bounded by
    /// the pools' own timeouts.
    pub(crate) async fn lend(&self) -> Result<Object<M>, PoolError<M::Error>> {
        let Some(own) = self.own() else { return self.shared.get().await };
        match own.timeout_get(&Timeouts { wait: Some(GRACE), ..own.timeouts() }).await {
            Err(PoolError::Timeout(TimeoutType::Wait)) => {
                let shared = self.shared.status();
                if shared.available > 0 || shared.size < shared.max_size {
                    self.shared.get().await
                } else {
                    own.get().await
                }
            }
            lent => lent,
        }
    }
}

fn on_single_threaded_runtime() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|runtime| runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread)
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    use deadpool::Runtime;
    use deadpool::managed::{Metrics, RecycleResult};

    use super::*;

    /// A pool of numbered objects, each pool with its own serial (the shared pool is 0).
    struct Numbered {
        serial: usize,
    }

    impl Manager for Numbered {
        type Type = usize;
        type Error = Infallible;

        async fn create(&self) -> Result<usize, Infallible> {
            Ok(self.serial)
        }

        async fn recycle(&self, _: &mut usize, _: &Metrics) -> RecycleResult<Infallible> {
            Ok(())
        }
    }

    fn lanes(pool_size: usize, threads: usize) -> Arc<Lanes<Pool<Numbered>>> {
        let made = AtomicUsize::new(0);
        let make = move |size| {
            let serial = made.fetch_add(1, Ordering::Relaxed);
            Pool::builder(Numbered { serial })
                .max_size(size)
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(Duration::from_millis(200)))
                .build()
                .unwrap()
        };
        Arc::new(Lanes::new(Split::of(pool_size, threads), make))
    }

    fn single_threaded() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
    }

    /// A thread running a single-threaded runtime that borrows a connection, reports which
    /// pool lent it, and lives on (its lane with it) until the [`Worker`] is dropped or ended.
    fn worker(lanes: &Arc<Lanes<Pool<Numbered>>>) -> (usize, Worker) {
        let lanes = Arc::clone(lanes);
        let (serial_tx, serial_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let serial = single_threaded().block_on(async { *lanes.lend().await.unwrap() });
            serial_tx.send(serial).unwrap();
            let _ = release_rx.recv();
        });
        (serial_rx.recv().unwrap(), Worker { release: release_tx, thread })
    }

    struct Worker {
        release: std::sync::mpsc::Sender<()>,
        thread: std::thread::JoinHandle<()>,
    }

    impl Worker {
        fn end(self) {
            drop(self.release);
            self.thread.join().unwrap();
        }
    }

    #[test]
    fn the_lanes_add_up_to_the_pool_size_and_each_has_two_connections_or_the_pool_is_not_split() {
        for pool_size in 0..80 {
            for threads in 0..40 {
                let split = Split::of(pool_size, threads);
                assert_eq!(split.total(), pool_size.max(1), "{pool_size}/{threads}: {split:?}");
                assert!(split.own_lanes == 0 || (split.own_lanes == threads && split.per_lane >= 2), "{split:?}");
                assert!(split.larger_lanes <= split.own_lanes, "{split:?}");
            }
        }
        assert_eq!(Split::of(12, 2), Split { own_lanes: 2, per_lane: 4, larger_lanes: 0 });
        assert_eq!(Split::of(32, 8), Split { own_lanes: 8, per_lane: 3, larger_lanes: 5 });
        assert_eq!(Split::of(2, 2), Split { own_lanes: 0, per_lane: 2, larger_lanes: 0 }, "too small: one pool");
        assert_eq!(Split::of(64, 63).own_lanes, 0, "one connection a lane is no lane");
    }

    #[test]
    fn each_worker_thread_gets_a_lane_of_its_own_until_none_are_left() {
        let lanes = lanes(13, 2);
        let (one, _keep_one) = worker(&lanes);
        let (two, _keep_two) = worker(&lanes);
        let (three, _keep_three) = worker(&lanes);
        assert!(one != 0 && two != 0 && one != two, "two lanes of their own (the shared pool is 0): {one}, {two}");
        assert_eq!(three, 0, "a third worker shares");
        let mut sizes: Vec<_> = lanes.own.iter().map(|pool| pool.status().max_size).collect();
        sizes.sort_unstable();
        assert_eq!(sizes, [4, 5], "the first lane claimed takes the remainder");
        assert_eq!(lanes.max_size(), 13);
    }

    #[test]
    fn a_worker_whose_lane_is_all_lent_borrows_from_the_shared_lane_while_it_has_room() {
        let lanes = lanes(6, 2);
        single_threaded().block_on(async {
            let (a, b) = (lanes.lend().await.unwrap(), lanes.lend().await.unwrap());
            assert!(*a != 0 && *a == *b, "both from its own lane of two");
            let (c, d) = (lanes.lend().await.unwrap(), lanes.lend().await.unwrap());
            assert_eq!((*c, *d), (0, 0), "its lane all lent: the shared lane's two");
            let waited = lanes.lend().await;
            assert!(matches!(waited, Err(PoolError::Timeout(TimeoutType::Wait))), "neither has room: a bounded wait");
            drop(a);
            assert_eq!(*lanes.lend().await.unwrap(), *b, "its own again once one is back");
        });
    }

    #[test]
    fn no_more_lanes_are_made_than_planned_however_threads_come_and_go() {
        let lanes = lanes(9, 2);
        for _ in 0..5 {
            let (serial, worker) = worker(&lanes);
            assert!(serial <= 2, "a lane of its own or the shared one: {serial}");
            worker.end();
        }
        assert!(lanes.taken.load(Ordering::Acquire) <= 2);
        assert!(lanes.own.iter().count() <= 2);
    }

    #[test]
    fn a_multi_threaded_runtime_and_a_thread_without_one_use_the_shared_pool() {
        let lanes = lanes(12, 2);
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap();
        let inner = Arc::clone(&lanes);
        let serial = runtime.block_on(async move { tokio::spawn(async move { *inner.lend().await.unwrap() }).await });
        assert_eq!(serial.unwrap(), 0);
        assert!(lanes.own().is_none(), "no runtime: no lane");
        assert_eq!(lanes.own.iter().count(), 0);
    }
}
