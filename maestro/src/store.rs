//! Durable state of orders in sled: orders, idempotency keys, the service inventory, the
//! fan-out outbox, intent statuses, and indexes. An order, its inventory changes and its outbox
//! entries are written in one transaction and flushed before the caller is answered.
//!
//! Keys (tree `orders`): `order/<id>`, `idem/<key>`, `idx/<seq>` (newest first), `inv/<service>`,
//! `outbox/<order>/<item>/<domain>`, `open/<order>`, `byintent/<intent>/<order>`.
//! Tree `intent_status`: `<intent id>` -> latest status.

use crate::error::{OrderError, StoreError};
use crate::intent::{IntentPayload, IntentStatus, OutboxEntry};
use crate::inventory::{InventoryEntry, next_generation};
use crate::model::{Action, Delivery, DomainProgress, Order, OrderItem, OrderState, ServiceState};
use crate::request::NewOrder;
use crate::resolve::ResolvedItem;
use maestro_common::ids;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::{
    ConflictableTransactionError as Abortable, TransactionError, TransactionalTree,
};
use std::collections::BTreeMap;
use tokio::sync::broadcast;

/// An order changed (sent after the change is stored), with the stored order itself so that
/// watchers see every revision without reading it back.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderChange {
    /// Order id.
    pub order_id: String,
    /// Its new revision.
    pub revision: u64,
    /// The order as stored at `revision`.
    pub order: std::sync::Arc<Order>,
}

/// The result of [`OrderStore::create`].
#[derive(Debug, Clone)]
pub struct Created {
    /// The order (new or the one the idempotency key already named).
    pub order: Order,
    /// False when the key matched an existing order.
    pub created: bool,
    /// Outbox entries to deliver (empty when not created).
    pub outbox: Vec<OutboxEntry>,
}

/// Orders, inventory and outbox over sled.
#[derive(Debug, Clone)]
pub struct OrderStore {
    db: sled::Db,
    tree: sled::Tree,
    statuses: sled::Tree,
    changes: broadcast::Sender<OrderChange>,
}

type TxResult<T> = Result<T, Abortable<OrderError>>;

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn decode<T: DeserializeOwned>(key: &str, v: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(v).map_err(|e| StoreError::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

fn tx_get<T: DeserializeOwned>(tx: &TransactionalTree, key: &str) -> TxResult<Option<T>> {
    match tx.get(key.as_bytes())? {
        None => Ok(None),
        Some(v) => decode(key, &v)
            .map(Some)
            .map_err(|e| Abortable::Abort(e.into())),
    }
}

fn flatten<T>(r: Result<T, TransactionError<OrderError>>) -> Result<T, OrderError> {
    r.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    })
}

/// A W3C traceparent with fresh random ids.
fn new_traceparent() -> String {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let span = &uuid::Uuid::new_v4().simple().to_string()[..16];
    format!("00-{trace}-{span}-01")
}

impl OrderStore {
    /// Opens the store in `db`.
    pub fn open(db: &sled::Db) -> Result<Self, StoreError> {
        Ok(Self {
            db: db.clone(),
            tree: db.open_tree("orders")?,
            statuses: db.open_tree("intent_status")?,
            changes: broadcast::channel(1024).0,
        })
    }

    /// Order changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<OrderChange> {
        self.changes.subscribe()
    }

    fn notify(&self, order: &Order) {
        let _ = self.changes.send(OrderChange {
            order_id: order.id.clone(),
            revision: order.revision,
            order: std::sync::Arc::new(order.clone()),
        });
    }

    fn read<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        self.tree
            .get(key.as_bytes())?
            .map(|v| decode(key, &v))
            .transpose()
    }

    /// The order `id`.
    pub fn get(&self, id: &str) -> Result<Option<Order>, StoreError> {
        self.read(&format!("order/{id}"))
    }

    /// The order created with idempotency key `key`.
    pub fn find_by_key(&self, key: &str) -> Result<Option<Order>, StoreError> {
        match self.read::<String>(&format!("idem/{key}"))? {
            Some(id) => self.get(&id),
            None => Ok(None),
        }
    }

    /// Inventory entries of `names` that exist.
    pub fn inventory<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<BTreeMap<String, InventoryEntry>, StoreError> {
        let mut out = BTreeMap::new();
        for n in names {
            if let Some(e) = self.read::<InventoryEntry>(&format!("inv/{n}"))? {
                out.insert(n.to_string(), e);
            }
        }
        Ok(out)
    }

    /// Stores a new order for `new` with its resolved `items` in one transaction (order,
    /// idempotency key, inventory, outbox, indexes) and flushes; or returns the order the
    /// idempotency key already names.
    pub async fn create(
        &self,
        new: &NewOrder,
        items: &[ResolvedItem],
        now_ms: i64,
    ) -> Result<Created, OrderError> {
        let seq = u64::MAX - self.db.generate_id()?;
        let order_id = ids::new_id();
        let traceparent = new_traceparent();
        let result = self.tree.transaction(|tx| {
            if let Some(existing) = tx_get::<String>(tx, &format!("idem/{}", new.idempotency_key))?
            {
                let order = tx_get::<Order>(tx, &format!("order/{existing}"))?
                    .ok_or_else(|| Abortable::Abort(OrderError::NotFound(existing.clone())))?;
                return Ok(Created {
                    order,
                    created: false,
                    outbox: Vec::new(),
                });
            }
            let mut order = Order {
                id: order_id.clone(),
                idempotency_key: new.idempotency_key.clone(),
                external_id: new.external_id.clone(),
                description: new.description.clone(),
                category: new.category.clone(),
                priority: new.priority,
                state: OrderState::Acknowledged,
                order_date_ms: now_ms,
                completion_date_ms: None,
                notes: Vec::new(),
                items: Vec::with_capacity(items.len()),
                revision: 1,
                traceparent: traceparent.clone(),
            };
            order.note(now_ms, "acknowledged");
            let mut outbox = Vec::new();
            for item in items {
                let name = item.service.name.as_str();
                let inv_key = format!("inv/{name}");
                let current = tx_get::<InventoryEntry>(tx, &inv_key)?;
                let generation = next_generation(name, item.action, current.as_ref())
                    .map_err(Abortable::Abort)?;
                let deleted = item.action == Action::Delete;
                let entry = InventoryEntry {
                    name: name.to_string(),
                    generation,
                    deleted,
                    spec_id: item.service.spec_id.clone(),
                    spec_version: item.service.spec_version.clone(),
                    characteristics: item.service.characteristics.clone(),
                    placement: item.placement.clone(),
                    targets: item.targets.clone(),
                    order_id: order_id.clone(),
                };
                tx.insert(inv_key.as_bytes(), encode(&entry))?;
                let characteristics_json =
                    serde_json::Value::Object(item.service.characteristics_object()).to_string();
                let mut domains = Vec::with_capacity(item.targets.len());
                for t in &item.targets {
                    let intent_id = ids::intent_id(name, &t.domain);
                    domains.push(DomainProgress {
                        domain: t.domain.clone(),
                        intent_id: intent_id.clone(),
                        generation,
                        sites: t.sites.clone(),
                        delivery: Delivery::Pending,
                        delivery_attempts: 0,
                        service_state: ServiceState::Unspecified,
                        observed_generation: 0,
                        ready: 0,
                        total: 0,
                        site_progress: Vec::new(),
                        message: String::new(),
                        reasons: Vec::new(),
                        last_heard_ms: 0,
                        unreachable: false,
                    });
                    let entry = OutboxEntry {
                        order_id: order_id.clone(),
                        item_id: item.id.clone(),
                        domain: t.domain.clone(),
                        intent: IntentPayload {
                            id: intent_id.clone(),
                            generation,
                            service_name: name.to_string(),
                            order_id: order_id.clone(),
                            order_item_id: item.id.clone(),
                            spec_id: item.service.spec_id.clone(),
                            spec_version: item.service.spec_version.clone(),
                            sites: t.sites.clone(),
                            characteristics_json: characteristics_json.clone(),
                            blueprint_templates_json: item.templates.clone(),
                            deleted,
                            traceparent: traceparent.clone(),
                        },
                    };
                    tx.insert(format!("outbox/{}", entry.key()).as_bytes(), encode(&entry))?;
                    tx.insert(
                        format!("byintent/{intent_id}/{order_id}").as_bytes(),
                        &[][..],
                    )?;
                    outbox.push(entry);
                }
                order.items.push(OrderItem {
                    id: item.id.clone(),
                    action: item.action,
                    state: OrderState::Acknowledged,
                    service: item.service.clone(),
                    placement: item.placement.clone(),
                    domains,
                    status_reason: None,
                });
            }
            tx.insert(format!("order/{order_id}").as_bytes(), encode(&order))?;
            tx.insert(
                format!("idem/{}", new.idempotency_key).as_bytes(),
                encode(&order_id),
            )?;
            tx.insert(format!("idx/{seq:020}").as_bytes(), encode(&order_id))?;
            tx.insert(format!("open/{order_id}").as_bytes(), &[][..])?;
            Ok(Created {
                order,
                created: true,
                outbox,
            })
        });
        let created = flatten(result)?;
        maestro_common::durable::flush(&self.db).await?;
        if created.created {
            self.notify(&created.order);
        }
        Ok(created)
    }

    /// Orders newest first, after `page_token`, optionally only in `state`.
    pub fn list(
        &self,
        page_size: usize,
        page_token: &str,
        state: Option<OrderState>,
    ) -> Result<(Vec<Order>, String), OrderError> {
        let start = if page_token.is_empty() {
            "idx/".to_string()
        } else {
            let seq: u64 = page_token.parse().map_err(|_| {
                maestro_common::FieldError::new("page_token", "not a token returned by ListOrders")
            })?;
            format!("idx/{:020}", seq.saturating_add(1))
        };
        let mut orders = Vec::new();
        let mut next = String::new();
        let mut more = false;
        for kv in self.tree.range(start.into_bytes()..) {
            let (k, v) = kv.map_err(StoreError::from)?;
            let Some(seq) = k.strip_prefix(b"idx/") else {
                break;
            };
            let key = String::from_utf8_lossy(&k).to_string();
            let id: String = decode(&key, &v)?;
            let Some(order) = self.get(&id)? else {
                continue;
            };
            if state.is_some_and(|s| s != order.state) {
                continue;
            }
            if orders.len() == page_size {
                more = true;
                break;
            }
            orders.push(order);
            next = String::from_utf8_lossy(seq).to_string();
        }
        if !more {
            next.clear();
        }
        Ok((orders, next))
    }

    /// Applies `f` to order `id` in a transaction; stores and announces the result when it
    /// differs. Returns the stored order (changed or not); `None` when there is no such order.
    pub async fn update<F>(&self, id: &str, f: F) -> Result<Option<Order>, OrderError>
    where
        F: Fn(&Order) -> Order,
    {
        self.update_with(id, None, f).await
    }

    /// Like [`Self::update`], and removes the outbox entry `outbox_key` in the same transaction.
    pub async fn update_with<F>(
        &self,
        id: &str,
        outbox_key: Option<&str>,
        f: F,
    ) -> Result<Option<Order>, OrderError>
    where
        F: Fn(&Order) -> Order,
    {
        let result = self.tree.transaction(|tx| {
            if let Some(k) = outbox_key {
                tx.remove(format!("outbox/{k}").as_bytes())?;
            }
            let Some(old) = tx_get::<Order>(tx, &format!("order/{id}"))? else {
                return Ok(None);
            };
            let new = f(&old);
            if new == old {
                return Ok(Some((new, false)));
            }
            tx.insert(format!("order/{id}").as_bytes(), encode(&new))?;
            if new.state.is_final() {
                tx.remove(format!("open/{id}").as_bytes())?;
                for (_, intent) in new.intent_ids() {
                    tx.remove(format!("byintent/{intent}/{id}").as_bytes())?;
                }
            }
            Ok(Some((new, true)))
        });
        let Some((order, changed)) = flatten(result)? else {
            return Ok(None);
        };
        if changed || outbox_key.is_some() {
            maestro_common::durable::flush(&self.db).await?;
        }
        if changed {
            self.notify(&order);
        }
        Ok(Some(order))
    }

    /// Every outbox entry not yet acknowledged or rejected.
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.scan_values("outbox/")
    }

    fn scan_values<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<T>, StoreError> {
        self.tree
            .scan_prefix(prefix.as_bytes())
            .map(|kv| {
                let (k, v) = kv?;
                decode(&String::from_utf8_lossy(&k), &v)
            })
            .collect()
    }

    fn scan_suffixes(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.tree
            .scan_prefix(prefix.as_bytes())
            .map(|kv| Ok(String::from_utf8_lossy(&kv?.0[prefix.len()..]).to_string()))
            .collect()
    }

    /// Ids of orders that are not final.
    pub fn open_orders(&self) -> Result<Vec<String>, StoreError> {
        self.scan_suffixes("open/")
    }

    /// Ids of non-final orders whose items address `intent_id`.
    pub fn orders_for_intent(&self, intent_id: &str) -> Result<Vec<String>, StoreError> {
        self.scan_suffixes(&format!("byintent/{intent_id}/"))
    }

    /// Stores `status` unless a status of a higher generation is stored; true when it changed.
    pub fn record_status(&self, status: &IntentStatus) -> Result<bool, StoreError> {
        let key = status.intent_id.as_bytes();
        let old: Option<IntentStatus> = self
            .statuses
            .get(key)?
            .map(|v| decode(&status.intent_id, &v))
            .transpose()?;
        if old
            .as_ref()
            .is_some_and(|o| o.generation > status.generation || o == status)
        {
            return Ok(false);
        }
        self.statuses.insert(key, encode(status))?;
        Ok(true)
    }

    /// The latest statuses of every intent of `order`, by intent id.
    pub fn statuses_for(
        &self,
        order: &Order,
    ) -> Result<BTreeMap<String, IntentStatus>, StoreError> {
        let mut out = BTreeMap::new();
        for (_, intent) in order.intent_ids() {
            if let Some(v) = self.statuses.get(intent.as_bytes())? {
                out.insert(intent.to_string(), decode(intent, &v)?);
            }
        }
        Ok(out)
    }
}
