//! A dry run of an intent (`PlanIntent`): what applying it would change at each site, blueprint
//! by blueprint and field by field, or why the domain would refuse it — computed from the same
//! checks and rendering as an apply, against what the domain last rendered. Nothing is stored or
//! published.

use crate::context::Context;
use crate::intent::Intent;
use crate::policy::Refusal;
use crate::translator::{self, RenderedBlueprint};
use maestro_common::FieldError;
use maestro_common::contract::{ANN_INTENT_GENERATION, ANN_ORDER_ID, ANN_TRACEPARENT};
use maestro_common::diff::{FieldChange, diff};
use serde_json::Value;
use std::collections::BTreeMap;

/// What a change does to one blueprint at one site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A new blueprint.
    Add,
    /// An existing blueprint with other content.
    Change,
    /// A blueprint that goes away.
    Remove,
}

/// One blueprint that would change.
#[derive(Debug, Clone, PartialEq)]
pub struct BlueprintChange {
    /// The site.
    pub site: String,
    /// Its kind.
    pub kind: String,
    /// Its name.
    pub blueprint: String,
    /// What happens to it.
    pub action: Action,
    /// For a change, the fields that differ.
    pub fields: Vec<FieldChange>,
}

/// The plan of one intent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IntentPlan {
    /// The blueprints that would change, by site then name.
    pub changes: Vec<BlueprintChange>,
    /// Why the domain would refuse it.
    pub refusal: Option<Refusal>,
    /// When the change would wait for the maintenance window: when that opens (ms).
    pub held_until_ms: Option<i64>,
}

/// Annotations that change with every generation whatever the content: left out of diffs.
const BOOKKEEPING: [&str; 3] = [ANN_INTENT_GENERATION, ANN_ORDER_ID, ANN_TRACEPARENT];

/// Plans `intent` against what `ctx` last rendered for it, at `now_ms`.
pub fn plan(ctx: &Context, intent: &Intent, now_ms: i64) -> Result<IntentPlan, PlanError> {
    intent
        .check_domain(&ctx.domain, &ctx.sites)
        .map_err(|e| PlanError::Invalid(e.within("intent")))?;
    let rendered = if intent.deleted {
        Vec::new()
    } else {
        let sites = intent.target_sites(&ctx.sites);
        let rendered = translator::render_intent(intent, &ctx.domain, &sites)
            .map_err(|e| PlanError::Invalid(e.within("intent")))?;
        let verdict = ctx
            .policy
            .check(intent, &rendered)
            .and_then(|()| ctx.offered.check(intent));
        if let Err(refusal) = verdict {
            return Ok(IntentPlan {
                refusal: Some(refusal),
                ..IntentPlan::default()
            });
        }
        rendered
    };
    let previous = ctx.store.rendered(&intent.id).map_err(PlanError::Store)?;
    let current: Vec<RenderedBlueprint> = previous
        .filter(|p| !p.deleted)
        .map(|p| p.blueprints)
        .unwrap_or_default();
    Ok(IntentPlan {
        changes: compare(&current, &rendered),
        refusal: None,
        held_until_ms: crate::windows::closed_until(&ctx.policy.maintenance_windows, now_ms)
            .flatten(),
    })
}

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The intent is not valid here.
    #[error(transparent)]
    Invalid(FieldError),
    /// The store failed.
    #[error("store: {0}")]
    Store(crate::store::StoreError),
}

/// The changes from `before` to `after`, by (site, name).
pub fn compare(before: &[RenderedBlueprint], after: &[RenderedBlueprint]) -> Vec<BlueprintChange> {
    let key = |b: &RenderedBlueprint| (b.site.to_string(), b.name.to_string());
    let old: BTreeMap<_, _> = before.iter().map(|b| (key(b), b)).collect();
    let new: BTreeMap<_, _> = after.iter().map(|b| (key(b), b)).collect();
    let mut out = Vec::new();
    for (k, b) in &new {
        let change = |action, fields| BlueprintChange {
            site: k.0.clone(),
            kind: b.kind.to_string(),
            blueprint: k.1.clone(),
            action,
            fields,
        };
        match old.get(k) {
            None => out.push(change(Action::Add, Vec::new())),
            Some(o) => {
                let fields = diff(&content(o), &content(b));
                if !fields.is_empty() {
                    out.push(change(Action::Change, fields));
                }
            }
        }
    }
    for (k, b) in old.iter().filter(|(k, _)| !new.contains_key(*k)) {
        out.push(BlueprintChange {
            site: k.0.clone(),
            kind: b.kind.to_string(),
            blueprint: k.1.clone(),
            action: Action::Remove,
            fields: Vec::new(),
        });
    }
    out.sort_by(|a, b| (&a.site, &a.blueprint).cmp(&(&b.site, &b.blueprint)));
    out
}

/// A rendered blueprint's content without the bookkeeping annotations.
fn content(b: &RenderedBlueprint) -> Value {
    let mut v: Value = serde_json::from_str(&b.content).unwrap_or(Value::Null);
    if let Some(ann) = v
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
    {
        for k in BOOKKEEPING {
            ann.remove(k);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use maestro_common::ResourceName;
    use serde_json::json;

    fn bp(site: &str, name: &str, replicas: u64, generation: u64) -> RenderedBlueprint {
        let n = |v: &str| ResourceName::parse("n", v).unwrap();
        RenderedBlueprint {
            site: n(site),
            kind: n("ProcessDeployment"),
            name: n(name),
            content: json!({
                "kind": "ProcessDeployment",
                "metadata": {"name": name, "annotations": {
                    ANN_INTENT_GENERATION: generation.to_string(), "maestro.io/service": name}},
                "spec": {"replicas": replicas},
            })
            .to_string(),
        }
    }

    #[test]
    fn blueprints_are_added_changed_or_removed_and_bookkeeping_is_not_a_change() {
        let before = [
            bp("s1", "web", 1, 1),
            bp("s2", "web", 1, 1),
            bp("s3", "web", 1, 1),
        ];
        let after = [
            bp("s1", "web", 1, 2),
            bp("s2", "web", 2, 2),
            bp("s4", "web", 1, 2),
        ];
        let changes = compare(&before, &after);
        let summary: Vec<(&str, Action)> = changes
            .iter()
            .map(|c| (c.site.as_str(), c.action))
            .collect();
        assert_eq!(
            summary,
            [
                ("s2", Action::Change),
                ("s3", Action::Remove),
                ("s4", Action::Add)
            ],
            "s1 differs only in its generation annotation"
        );
        assert_eq!(changes[0].fields.len(), 1);
        assert_eq!(changes[0].fields[0].path, "spec.replicas");
        assert_eq!(changes[0].fields[0].before, Some(json!(1)));
        assert_eq!(changes[0].fields[0].after, Some(json!(2)));
    }
}
