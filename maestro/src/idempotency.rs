//! Idempotency keys, as payment APIs keep them: a key names the order it created and the hash
//! of the request that created it. The same key with the same request returns that order; the
//! same key with another request is refused (`ALREADY_EXISTS`, naming the key and the order),
//! so a client that reuses a key by mistake is told instead of silently getting an order it did
//! not ask for. Records stored before hashes were kept name the order alone and are honoured as
//! before: any request with such a key returns its order.

use crate::error::OrderError;
use crate::model::Order;
use crate::request::NewOrder;
use maestro_common::json::{canonical, sorted};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// What the store keeps under an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyRecord {
    /// The order the key created and the hash of the request that created it.
    Hashed {
        /// The order's id.
        order_id: String,
        /// [`request_hash`] of the creating request.
        request_hash: String,
    },
    /// A record from before request hashes were kept: the order's id alone.
    Legacy(String),
}

impl KeyRecord {
    /// The id of the order the key names.
    pub fn order_id(&self) -> &str {
        match self {
            Self::Hashed { order_id, .. } | Self::Legacy(order_id) => order_id,
        }
    }

    /// The hash of the creating request; `None` for a record made before hashes were kept.
    pub fn request_hash(&self) -> Option<&str> {
        match self {
            Self::Hashed { request_hash, .. } => Some(request_hash),
            Self::Legacy(_) => None,
        }
    }
}

/// An order found by its idempotency key, with the hash of the request that created it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyedOrder {
    /// The order.
    pub order: Order,
    /// [`request_hash`] of the creating request; `None` for a record made before hashes were kept.
    pub request_hash: Option<String>,
}

impl KeyedOrder {
    /// The stored order, when the request hashed `request_hash` may have it: the same request,
    /// or a key recorded before hashes were kept. Another request is refused, naming the key
    /// and the order.
    pub fn answer(self, key: &str, request_hash: &str) -> Result<Order, OrderError> {
        match &self.request_hash {
            Some(stored) if stored != request_hash => Err(OrderError::KeyReused {
                key: key.to_string(),
                order_id: self.order.id,
            }),
            _ => Ok(self.order),
        }
    }
}

/// A deterministic hash of what `new` asks for: SHA-256 of its canonical JSON (every field of
/// the validated request, object keys sorted, characteristics ordered by name), as
/// `sha256:<hex>`. The key itself is not part of it.
pub fn request_hash(new: &NewOrder) -> String {
    let items: Vec<Value> = new
        .items
        .iter()
        .map(|item| {
            let mut characteristics: Vec<&(String, Value, String)> =
                item.characteristics.iter().collect();
            characteristics.sort_by(|a, b| a.0.cmp(&b.0));
            let characteristics: Vec<Value> = characteristics
                .into_iter()
                .map(|(name, value, value_type)| json!([name, sorted(value), value_type]))
                .collect();
            let mut v = json!({
                "id": item.id.as_str(),
                "action": item.action,
                "service_name": item.service_name.as_str(),
                "spec_id": item.spec_id,
                "characteristics": characteristics,
                "placement": {
                    "domains": item.placement.domains,
                    "domain_selector": item.placement.domain_selector,
                    "sites": item.placement.sites,
                },
            });
            // Only when given, so the hashes of orders without a rollout stay what they were.
            if let (Some(r), Some(o)) = (&item.rollout, v.as_object_mut()) {
                o.insert(
                    "rollout".into(),
                    sorted(&serde_json::to_value(r).unwrap_or_default()),
                );
            }
            if let (Some(p), Some(o)) = (&item.pinned, v.as_object_mut()) {
                o.insert("restores".into(), json!([p.name, p.generation, p.order_id]));
            }
            v
        })
        .collect();
    let body = json!({
        "external_id": new.external_id,
        "description": new.description,
        "category": new.category,
        "priority": new.priority,
        "items": items,
    });
    format!("sha256:{}", hex::encode(Sha256::digest(canonical(&body))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::add;

    #[test]
    fn the_hash_is_stable_and_ignores_the_key_and_characteristic_order() {
        let a = add("k1", "web", &["north"]);
        let mut b = add("k2", "web", &["north"]);
        assert_eq!(request_hash(&a), request_hash(&b));
        b.items[0].characteristics = vec![
            ("b".into(), json!({"y": 1, "x": 2}), String::new()),
            ("a".into(), json!(1), String::new()),
        ];
        let mut c = a.clone();
        c.items[0].characteristics = vec![
            ("a".into(), json!(1), String::new()),
            ("b".into(), json!({"x": 2, "y": 1}), String::new()),
        ];
        assert_eq!(request_hash(&b), request_hash(&c));
        assert!(request_hash(&a).starts_with("sha256:"));
    }

    #[test]
    fn any_change_of_the_body_changes_the_hash() {
        let a = add("k", "web", &["north"]);
        let mut b = a.clone();
        b.description = "other".into();
        assert_ne!(request_hash(&a), request_hash(&b));
        let mut c = a.clone();
        c.items[0].placement.domains = vec!["south".into()];
        assert_ne!(request_hash(&a), request_hash(&c));
    }

    #[test]
    fn legacy_records_read_as_before_and_hashed_ones_round_trip() {
        let legacy: KeyRecord = serde_json::from_str("\"o-1\"").unwrap();
        assert_eq!(legacy.order_id(), "o-1");
        assert_eq!(legacy.request_hash(), None);
        let hashed = KeyRecord::Hashed {
            order_id: "o-2".into(),
            request_hash: "sha256:00".into(),
        };
        let back: KeyRecord =
            serde_json::from_slice(&serde_json::to_vec(&hashed).unwrap()).unwrap();
        assert_eq!(back, hashed);
    }
}
