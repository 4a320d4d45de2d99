//! WatchOrder as its own component: follows one order's stored revisions and sends each to the
//! watcher, newest last, ending after a final revision, when the watcher leaves, or at
//! shutdown. Every stored revision arrives with its change, so each one is sent; only a watcher
//! that lags behind the change buffer reads the latest back and skips what it missed.

use crate::error::{OrderError, StoreError};
use crate::model::Order;
use crate::store::{OrderChange, OrderStore};
use std::sync::Arc;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How many revisions may wait for a slow watcher before the watch waits for it.
const BUFFER: usize = 16;

/// Revisions of one order, as they are stored.
pub type OrderRevisions = mpsc::Receiver<Result<Order, StoreError>>;

/// Starts watching order `id` (its current revision first); `NotFound` when there is no such
/// order. The watch runs on `tasks` and stops at `shutdown`.
pub fn watch_order(
    store: Arc<dyn OrderStore>,
    id: &str,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> Result<OrderRevisions, OrderError> {
    // Subscribe first: a revision stored after the read below is not missed.
    let changes = store.subscribe();
    let first = store
        .get(id)?
        .ok_or_else(|| OrderError::NotFound(id.to_string()))?;
    let (tx, rx) = mpsc::channel(BUFFER);
    let watch = Watch {
        store,
        id: id.to_string(),
        changes,
        tx,
        shutdown,
    };
    tasks.spawn(watch.run(first));
    Ok(rx)
}

struct Watch {
    store: Arc<dyn OrderStore>,
    id: String,
    changes: broadcast::Receiver<OrderChange>,
    tx: mpsc::Sender<Result<Order, StoreError>>,
    shutdown: CancellationToken,
}

impl Watch {
    async fn run(mut self, first: Order) {
        let mut last = 0;
        let mut next = Some(first);
        loop {
            if let Some(order) = next.take().filter(|o| o.revision > last) {
                last = order.revision;
                let done = order.state.is_final();
                if self.tx.send(Ok(order)).await.is_err() || done {
                    return;
                }
            }
            tokio::select! {
                change = self.changes.recv() => match change {
                    Ok(c) if c.order_id == self.id && c.revision > last => {
                        next = Some((*c.order).clone());
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => match self.store.get(&self.id) {
                        Ok(order) => next = order,
                        Err(e) => {
                            let _ = self.tx.send(Err(e)).await;
                            return;
                        }
                    },
                    Err(RecvError::Closed) => return,
                },
                () = self.tx.closed() => return,
                () = self.shutdown.cancelled() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{add, catalog, domain};
    use crate::model::OrderState;
    use crate::plan::{CurrentState, Decision, Fresh, plan};
    use crate::store::MemoryOrderStore;

    async fn stored(store: &MemoryOrderStore) -> Order {
        let domains = [domain("north", &[])];
        let catalog = crate::offers::Offers::from(catalog());
        let inventory = Default::default();
        let state = CurrentState {
            existing: None,
            inventory: &inventory,
            domains: &domains,
            catalog: &catalog,
            rollouts: &Default::default(),
            fit: &Default::default(),
        };
        let Decision::Create(p) =
            plan(&add("k", "web", &["north"]), state, &Fresh::new(1)).unwrap()
        else {
            panic!("a new order");
        };
        store.create(&p).await.unwrap();
        p.order
    }

    fn bump(state: OrderState) -> impl Fn(&Order) -> Order + Send + Sync {
        move |o: &Order| {
            let mut o = o.clone();
            o.state = state;
            o.revision += 1;
            o
        }
    }

    #[tokio::test]
    async fn sends_every_revision_and_ends_after_the_final_one() {
        let store = Arc::new(MemoryOrderStore::default());
        let order = stored(&store).await;
        let tasks = TaskTracker::new();
        let mut revisions =
            watch_order(store.clone(), &order.id, CancellationToken::new(), &tasks).unwrap();
        assert_eq!(revisions.recv().await.unwrap().unwrap(), order);
        store
            .update(&order.id, &[], &bump(OrderState::InProgress))
            .await
            .unwrap();
        store
            .update(&order.id, &[], &bump(OrderState::Completed))
            .await
            .unwrap();
        let seen: Vec<(u64, OrderState)> = [
            revisions.recv().await.unwrap().unwrap(),
            revisions.recv().await.unwrap().unwrap(),
        ]
        .iter()
        .map(|o| (o.revision, o.state))
        .collect();
        assert_eq!(
            seen,
            [(2, OrderState::InProgress), (3, OrderState::Completed)]
        );
        assert!(revisions.recv().await.is_none(), "ends after the final");
        tasks.close();
        tasks.wait().await;
    }

    #[tokio::test]
    async fn an_unknown_order_is_not_found() {
        let store = Arc::new(MemoryOrderStore::default());
        let e = watch_order(store, "nope", CancellationToken::new(), &TaskTracker::new());
        assert!(matches!(e, Err(OrderError::NotFound(_))));
    }
}
