//! [`OrderStore`] over sled.
//!
//! Keys (tree `orders`): `order/<id>`, `idem/<key>` (a [`KeyRecord`]), `idx/<seq>` (newest first), `inv/<service>`,
//! `outbox/<order>/<item>/<domain>`, `open/<order>`, `byintent/<intent>/<order>`.
//! Tree `intent_status`: `<intent id>` -> latest status.

use super::decoded::Decoded;
use super::{
    Changes, Fits, OrderChange, OrderSend, OrderStore, Persisted, Sent, WrittenChange,
    keeps_status, parse_page_token,
};
use crate::error::{OrderError, StoreError};
use crate::idempotency::{KeyRecord, KeyedOrder};
use crate::intent::{IntentStatus, OutboxEntry};
use crate::inventory::InventoryEntry;
use crate::model::{Order, OrderState};
use crate::plan::OrderPlan;
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::{
    ConflictableTransactionError as Abortable, TransactionError, TransactionalTree,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Most bytes of encoded orders kept decoded (the open orders a roll-up reads again and again).
const ORDER_BYTES_KEPT: usize = 32 << 20;
/// Most bytes of encoded intent statuses kept decoded.
const STATUS_BYTES_KEPT: usize = 16 << 20;

/// Orders, inventory and outbox in sled; every write is flushed before it is acknowledged.
#[derive(Debug, Clone)]
pub struct SledOrderStore {
    db: sled::Db,
    tree: sled::Tree,
    statuses: sled::Tree,
    changes: Changes,
    /// Orders as last read or written, kept decoded.
    orders_decoded: Arc<Decoded<Order>>,
    /// Intent statuses as last read or written, kept decoded.
    statuses_decoded: Arc<Decoded<IntentStatus>>,
}

type TxResult<T> = Result<T, Abortable<StoreError>>;

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
        Some(v) => decode(key, &v).map(Some).map_err(Abortable::Abort),
    }
}

fn flatten<T>(r: Result<T, TransactionError<StoreError>>) -> Result<T, StoreError> {
    r.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    })
}

impl SledOrderStore {
    /// Opens the store in `db`.
    pub fn open(db: &sled::Db) -> Result<Self, StoreError> {
        Ok(Self {
            db: db.clone(),
            tree: db.open_tree("orders")?,
            statuses: db.open_tree("intent_status")?,
            changes: Changes::default(),
            orders_decoded: Arc::new(Decoded::new(ORDER_BYTES_KEPT)),
            statuses_decoded: Arc::new(Decoded::new(STATUS_BYTES_KEPT)),
        })
    }

    /// The order stored as `raw` under `key`, decoded once per distinct record.
    fn decode_order(&self, key: &str, raw: &sled::IVec) -> Result<Arc<Order>, StoreError> {
        self.orders_decoded.decode(key, raw, |v| decode(key, v))
    }

    /// The status of `intent` stored as `raw`, decoded once per distinct record.
    fn decode_status(
        &self,
        intent: &str,
        raw: &sled::IVec,
    ) -> Result<Arc<IntentStatus>, StoreError> {
        self.statuses_decoded
            .decode(intent, raw, |v| decode(intent, v))
    }

    fn read<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        self.tree
            .get(key.as_bytes())?
            .map(|v| decode(key, &v))
            .transpose()
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

    /// The transaction of [`OrderStore::create`].
    fn write_plan(&self, plan: &OrderPlan, seq: u64) -> Result<Persisted, StoreError> {
        let order = &plan.order;
        let id = &order.id;
        let result = self.tree.transaction(|tx| {
            let idem = format!("idem/{}", order.idempotency_key);
            if let Some(record) = tx_get::<KeyRecord>(tx, &idem)? {
                let existing = record.order_id();
                let stored =
                    tx_get::<Order>(tx, &format!("order/{existing}"))?.ok_or_else(|| {
                        Abortable::Abort(StoreError::Corrupt {
                            key: idem.clone(),
                            reason: format!("names order {existing}, which is not stored"),
                        })
                    })?;
                return Ok(Persisted::KeyTaken(KeyedOrder {
                    order: stored,
                    request_hash: record.request_hash().map(str::to_string),
                }));
            }
            for (name, expected) in &plan.expected {
                let current = tx_get::<InventoryEntry>(tx, &format!("inv/{name}"))?;
                if current.map(|c| c.generation) != *expected {
                    return Ok(Persisted::Stale);
                }
            }
            for entry in &plan.inventory {
                tx.insert(format!("inv/{}", entry.name).as_bytes(), encode(entry))?;
            }
            for entry in &plan.outbox {
                tx.insert(format!("outbox/{}", entry.key()).as_bytes(), encode(entry))?;
                let intent = &entry.intent.id;
                tx.insert(format!("byintent/{intent}/{id}").as_bytes(), &[][..])?;
            }
            tx.insert(format!("order/{id}").as_bytes(), encode(order))?;
            let record = KeyRecord::Hashed {
                order_id: id.clone(),
                request_hash: plan.request_hash.clone(),
            };
            tx.insert(idem.as_bytes(), encode(&record))?;
            tx.insert(format!("idx/{seq:020}").as_bytes(), encode(id))?;
            tx.insert(format!("open/{id}").as_bytes(), &[][..])?;
            Ok(Persisted::Created(order.clone()))
        });
        flatten(result)
    }

    /// The transaction of [`OrderStore::update`]: the stored order and whether it changed.
    fn write_update(
        &self,
        id: &str,
        delivered: &[OutboxEntry],
        change: OrderSend<'_>,
    ) -> Result<Option<Written>, StoreError> {
        let result = self.tree.transaction(|tx| {
            let mut removed = false;
            for entry in delivered {
                let key = format!("outbox/{}", entry.key());
                if tx_get::<OutboxEntry>(tx, &key)?.as_ref() == Some(entry) {
                    tx.remove(key.as_bytes())?;
                    removed = true;
                }
            }
            let key = format!("order/{id}");
            let Some(raw) = tx.get(key.as_bytes())? else {
                return Ok(None);
            };
            let old = self.decode_order(&key, &raw).map_err(Abortable::Abort)?;
            let (new, sends) = change(&old);
            if new == *old {
                return Ok(Some(Written {
                    order: new,
                    raw: None,
                    removed,
                    sends: Vec::new(),
                }));
            }
            let raw = sled::IVec::from(encode(&new));
            tx.insert(key.as_bytes(), raw.clone())?;
            for entry in &sends {
                tx.insert(format!("outbox/{}", entry.key()).as_bytes(), encode(entry))?;
            }
            if new.state.is_final() {
                tx.remove(format!("open/{id}").as_bytes())?;
                for (_, intent) in new.intent_ids() {
                    tx.remove(format!("byintent/{intent}/{id}").as_bytes())?;
                }
            }
            Ok(Some(Written {
                order: new,
                raw: Some(raw),
                removed,
                sends,
            }))
        });
        flatten(result)
    }
}

/// What one update transaction wrote.
struct Written {
    order: Order,
    /// The order's new record, when it changed.
    raw: Option<sled::IVec>,
    removed: bool,
    sends: Vec<OutboxEntry>,
}

impl OrderStore for SledOrderStore {
    fn subscribe(&self) -> broadcast::Receiver<OrderChange> {
        self.changes.subscribe()
    }

    fn get(&self, id: &str) -> Result<Option<Order>, StoreError> {
        let key = format!("order/{id}");
        let Some(raw) = self.tree.get(key.as_bytes())? else {
            return Ok(None);
        };
        Ok(Some(Arc::unwrap_or_clone(self.decode_order(&key, &raw)?)))
    }

    fn find_by_key(&self, key: &str) -> Result<Option<KeyedOrder>, StoreError> {
        let Some(record) = self.read::<KeyRecord>(&format!("idem/{key}"))? else {
            return Ok(None);
        };
        Ok(self.get(record.order_id())?.map(|order| KeyedOrder {
            order,
            request_hash: record.request_hash().map(str::to_string),
        }))
    }

    fn inventory(&self, names: &[&str]) -> Result<BTreeMap<String, InventoryEntry>, StoreError> {
        let mut out = BTreeMap::new();
        for n in names {
            if let Some(e) = self.read::<InventoryEntry>(&format!("inv/{n}"))? {
                out.insert(n.to_string(), e);
            }
        }
        Ok(out)
    }

    fn inventory_all(&self) -> Result<BTreeMap<String, InventoryEntry>, StoreError> {
        Ok(self
            .scan_values::<InventoryEntry>("inv/")?
            .into_iter()
            .map(|e| (e.name.clone(), e))
            .collect())
    }

    fn write(&self, plan: &OrderPlan) -> Result<Persisted, StoreError> {
        let seq = u64::MAX - self.db.generate_id()?;
        self.write_plan(plan, seq)
    }

    fn commit<'a>(&'a self, created: Option<&'a Order>) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            maestro_common::durable::flush(&self.db).await?;
            if let Some(order) = created {
                self.changes.announce(order);
            }
            Ok(())
        })
    }

    fn list(
        &self,
        page_size: usize,
        page_token: &str,
        state: Option<OrderState>,
        fits: Fits<'_>,
    ) -> Result<(Vec<Order>, String), OrderError> {
        let start = match parse_page_token(page_token)? {
            None => "idx/".to_string(),
            Some(seq) => format!("idx/{:020}", seq.saturating_add(1)),
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
            if orders.len() == page_size || !(fits(&order) || orders.is_empty()) {
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

    fn write_change(
        &self,
        id: &str,
        delivered: &[OutboxEntry],
        change: OrderSend<'_>,
    ) -> Result<Option<WrittenChange>, StoreError> {
        let Some(w) = self.write_update(id, delivered, change)? else {
            return Ok(None);
        };
        let order = Arc::new(w.order);
        let changed = w.raw.is_some();
        if let Some(raw) = w.raw {
            let key = format!("order/{id}");
            if order.state.is_final() {
                // A final order is no longer rolled up: its record and its intents' statuses
                // are read rarely from now on.
                self.orders_decoded.forget(&key);
                for (_, intent) in order.intent_ids() {
                    self.statuses_decoded.forget(intent);
                }
            } else {
                self.orders_decoded.keep(&key, raw, Arc::clone(&order));
            }
        }
        Ok(Some(WrittenChange {
            order,
            sends: w.sends,
            changed,
            removed: w.removed,
        }))
    }

    fn commit_change(&self, written: WrittenChange) -> BoxFuture<'_, Result<Sent, StoreError>> {
        Box::pin(async move {
            if written.changed || written.removed {
                maestro_common::durable::flush(&self.db).await?;
            }
            if written.changed {
                self.changes.announce_shared(Arc::clone(&written.order));
            }
            Ok((Arc::unwrap_or_clone(written.order), written.sends))
        })
    }

    fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.scan_values("outbox/")
    }

    fn open_orders(&self) -> Result<Vec<String>, StoreError> {
        self.scan_suffixes("open/")
    }

    fn orders_for_intent(&self, intent_id: &str) -> Result<Vec<String>, StoreError> {
        self.scan_suffixes(&format!("byintent/{intent_id}/"))
    }

    fn record_status(&self, status: &IntentStatus) -> Result<bool, StoreError> {
        let intent = status.intent_id.as_str();
        let old = self
            .statuses
            .get(intent.as_bytes())?
            .map(|raw| self.decode_status(intent, &raw))
            .transpose()?;
        if keeps_status(old.as_deref(), status) {
            return Ok(false);
        }
        let raw = sled::IVec::from(encode(status));
        self.statuses.insert(intent.as_bytes(), raw.clone())?;
        self.statuses_decoded
            .keep(intent, raw, Arc::new(status.clone()));
        Ok(true)
    }

    fn statuses_for(&self, order: &Order) -> Result<BTreeMap<String, IntentStatus>, StoreError> {
        let mut out = BTreeMap::new();
        for (_, intent) in order.intent_ids() {
            if let Some(raw) = self.statuses.get(intent.as_bytes())? {
                let status = self.decode_status(intent, &raw)?;
                out.insert(intent.to_string(), IntentStatus::clone(&status));
            }
        }
        Ok(out)
    }
}
