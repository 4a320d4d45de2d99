//! The status a reconciler reports for a blueprint, and its JSON form in the colony (see
//! `docs/contracts.md`): `{instances, runningInstances, totalInstances, observedGeneration,
//! lastUpdated[, message]}` for every kind, so one assessment works for all of them.

use serde_json::{Map, Value, json};

/// One instance (a process, a container, a file) of a blueprint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstanceStatus {
    /// Instance name, e.g. `web-0`, a container name or a file path.
    pub name: String,
    /// Runtime id: a pid, a container id, a content hash.
    pub id: String,
    /// `process`, `container`, `file`.
    pub instance_type: &'static str,
    /// `running` when it is up (for a file: in place with the desired content), else what it is.
    pub state: String,
    /// Blueprint generation the instance was made from, when known.
    pub generation: Option<i64>,
    /// Kind-specific fields (`image`, `ports`, `sha256`, `mode`, …).
    pub extra: Map<String, Value>,
}

/// The status of one blueprint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    /// Every observed instance.
    pub instances: Vec<InstanceStatus>,
    /// Instances that run the desired generation in a desired slot.
    pub running: u32,
    /// Instances the spec asks for.
    pub total: u32,
}

impl Status {
    /// The JSON written to the colony at blueprint generation `generation`; `now` is RFC 3339.
    pub fn to_json(&self, generation: i64, message: Option<&str>, now: &str) -> Value {
        let instances: Vec<Value> = self
            .instances
            .iter()
            .map(|i| {
                let mut v = Map::new();
                v.insert("name".into(), json!(i.name));
                v.insert("id".into(), json!(i.id));
                v.insert("type".into(), json!(i.instance_type));
                v.insert("state".into(), json!(i.state));
                v.insert("generation".into(), json!(i.generation));
                v.insert("lastCheck".into(), json!(now));
                for (k, x) in &i.extra {
                    v.entry(k.clone()).or_insert_with(|| x.clone());
                }
                Value::Object(v)
            })
            .collect();
        let mut status = json!({
            "instances": instances,
            "runningInstances": self.running,
            "totalInstances": self.total,
            "observedGeneration": generation,
            "lastUpdated": now,
        });
        if let (Some(m), Some(obj)) = (message, status.as_object_mut()) {
            obj.insert("message".into(), Value::String(m.to_string()));
        }
        status
    }
}

/// `status` without the times it carries (`lastUpdated`, each instance's `lastCheck`): what a
/// reader compares to tell whether a blueprint's status said something new.
pub fn without_times(status: &Value) -> Value {
    let mut status = status.clone();
    if let Some(obj) = status.as_object_mut() {
        obj.remove("lastUpdated");
        if let Some(list) = obj.get_mut("instances").and_then(Value::as_array_mut) {
            for i in list.iter_mut().filter_map(Value::as_object_mut) {
                i.remove("lastCheck");
            }
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_the_contract_fields_and_extras_never_override_them() {
        let mut extra = Map::new();
        extra.insert("image".into(), json!("busybox:1"));
        extra.insert("state".into(), json!("forged"));
        let s = Status {
            instances: vec![InstanceStatus {
                name: "web-0".into(),
                id: "42".into(),
                instance_type: "process",
                state: "running".into(),
                generation: Some(3),
                extra,
            }],
            running: 1,
            total: 2,
        };
        let v = s.to_json(3, Some("starting"), "2026-01-01T00:00:00.000Z");
        assert_eq!(v["runningInstances"], 1);
        assert_eq!(v["totalInstances"], 2);
        assert_eq!(v["observedGeneration"], 3);
        assert_eq!(v["message"], "starting");
        assert_eq!(v["instances"][0]["state"], "running");
        assert_eq!(v["instances"][0]["image"], "busybox:1");
        assert_eq!(v["instances"][0]["lastCheck"], "2026-01-01T00:00:00.000Z");
        assert!(s.to_json(1, None, "t").get("message").is_none());
    }
}
