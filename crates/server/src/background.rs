//! Background work that yields the CPU to the requests: a thread of its own, a runtime of its
//! own, and a lower CPU priority (a higher nice value) for that thread and the threads it starts.
//!
//! The webhook dispatcher runs here. On a machine whose CPU the requests use up, its deliveries
//! (each a claim's share, a signed POST and a record: about a third of an OAuth flow's CPU with
//! the database's) then wait for the CPU the requests leave, rather than taking a share of it:
//! `cargo xtask bench events` measured the OAuth flows 14–26 % slower with an endpoint
//! registered before (docs/benchmarks.md, "Lifecycle events"). Deliveries are asynchronous by
//! nature; a request's user waits. The database's own work for them runs in its own processes,
//! at its priority, but only as fast as this thread asks for it. A PostgreSQL connection is
//! driven by the runtime that opened it, so the dispatcher's store calls go through a pool of its
//! own there (`database::dispatcher_pool`), which no other caller waits on; on SQLite they run on
//! the service's runtime (`Dispatcher::with_store_runtime`). Where the CPU is not used up, the
//! priority changes nothing.

use std::future::Future;

use tokio::task::JoinHandle;

/// How much lower the background thread's CPU priority is than the requests' (a nice value: 10
/// gives it about a tenth of the share of a request's thread while both want the CPU).
pub const NICENESS: i32 = 10;

/// Runs the future `work` makes on a thread named `name`, with a runtime of its own of one
/// worker, at [`NICENESS`]. The returned task stands for it: aborting that task (as a stopping
/// service does with its background tasks) ends `work` and the thread.
pub fn spawn_yielding<W, F>(name: &str, work: W) -> std::io::Result<JoinHandle<()>>
where
    W: FnOnce() -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = name.to_owned();
    std::thread::Builder::new().name(name.to_owned()).spawn(move || {
        yield_cpu(&thread);
        // Multi-threaded in flavour (of one worker): the PostgreSQL store gives each
        // single-threaded runtime a lane of the HTTP workers' pool, which this must not take.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!("{thread}-rt"))
            .enable_all()
            .build();
        match runtime {
            // The work is a task of the runtime, so it and the tasks it starts share the worker.
            Ok(runtime) => runtime.block_on(async move {
                let mut work = tokio::spawn(work());
                tokio::select! {
                    ended = &mut work => match ended {
                        Err(e) if e.is_panic() => tracing::error!(thread, "background work panicked and stopped"),
                        _ => tracing::error!(thread, "background work stopped"),
                    },
                    _ = stopped => work.abort(),
                }
            }),
            Err(e) => tracing::error!(thread, error = %e, "a background runtime could not start"),
        }
    })?;
    // Holding `stop` until it is aborted or dropped; either ends the thread's work.
    Ok(tokio::spawn(async move {
        let _stop = stop;
        std::future::pending::<()>().await;
    }))
}

/// Lowers this thread's CPU priority by [`NICENESS`] (on Linux a thread's nice value is its own,
/// and the threads it starts inherit it). Where that is refused, the work runs at the usual
/// priority and says so; elsewhere than on Linux it always does.
#[cfg(target_os = "linux")]
fn yield_cpu(thread: &str) {
    let me = rustix::thread::gettid();
    let result = rustix::process::getpriority_process(Some(me))
        .and_then(|now| rustix::process::setpriority_process(Some(me), now.saturating_add(NICENESS).min(19)));
    if let Err(e) = result {
        tracing::warn!(thread, error = %e, "a background thread runs at the usual CPU priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn yield_cpu(_thread: &str) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn nice_of_this_thread() -> i32 {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).expect("getpriority")
    }

    #[tokio::test]
    async fn the_work_runs_on_its_own_thread_at_a_lower_priority_and_stops_with_its_task() {
        let ours = nice_of_this_thread();
        let (tell, told) = tokio::sync::oneshot::channel();
        let (dropped, gone) = tokio::sync::oneshot::channel::<()>();
        let task = spawn_yielding("yielding-test", move || async move {
            let _dropped_when_stopped = dropped;
            let _ = tell.send((std::thread::current().name().map(str::to_owned), nice_of_this_thread()));
            std::future::pending::<()>().await;
        })
        .expect("spawn");
        let (name, nice) = told.await.expect("the work ran");
        assert_eq!(name.as_deref(), Some("yielding-test-rt"));
        assert_eq!(nice, (ours + NICENESS).min(19));
        task.abort();
        let ended = tokio::time::timeout(std::time::Duration::from_secs(10), gone).await;
        assert!(matches!(ended, Ok(Err(_))), "the work ended when its task was aborted: {ended:?}");
    }
}
