//! Runs many callers against one store at the same moment.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::Barrier;
use tokio::task::JoinSet;

use crate::ContractStore;

/// Starts `callers` tasks, each with its own clone of `store` and its index, lets them all pass
/// a barrier together, and returns their results in completion order. A panic in a task fails
/// the case.
pub(crate) async fn race<S, F, Fut, T>(store: &S, callers: usize, call: F) -> Vec<T>
where
    S: ContractStore,
    F: Fn(S, usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(callers));
    let mut tasks = JoinSet::new();
    for index in 0..callers {
        let barrier = Arc::clone(&barrier);
        let call = call(store.clone(), index);
        tasks.spawn(async move {
            barrier.wait().await;
            call.await
        });
    }
    tasks.join_all().await
}
