//! `order plan`: the plan of an order as the CLI shows it — a table of the blueprints that would
//! change (one row per domain, site and blueprint; a row for a domain that would refuse, hold or
//! could not be asked) and the field-level changes under it; or the same as JSON/YAML.

use crate::escape::visible;
use crate::output::{Output, structured};
use crate::states;
use crate::table::Table;
use maestro_proto::intent::v1 as int;
use maestro_proto::order::v1 as ord;
use serde::Serialize;

/// The plan of an order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderPlanView {
    /// Per item.
    pub items: Vec<ItemPlanView>,
}

/// The plan of one item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemPlanView {
    /// Item id.
    pub id: String,
    /// Service.
    pub service: String,
    /// add | modify | delete.
    pub action: String,
    /// The generation the service would get.
    pub generation: u64,
    /// Per domain.
    pub domains: Vec<DomainPlanView>,
}

/// What one domain would do.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainPlanView {
    /// Domain id.
    pub domain: String,
    /// Blueprints that would change.
    pub changes: Vec<ChangeView>,
    /// Why the domain would refuse the item.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub refusal: String,
    /// Why the domain could not be asked.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// When the change would wait for the domain's maintenance window: until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_until: Option<String>,
}

/// One blueprint that would change.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeView {
    /// Site.
    pub site: String,
    /// Kind.
    pub kind: String,
    /// Blueprint name.
    pub blueprint: String,
    /// add | change | remove.
    pub action: String,
    /// For a change, the fields that differ.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldView>,
}

/// One field that would change; JSON text of each side, absent when the field is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldView {
    /// Path.
    pub path: String,
    /// Before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// After.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

fn change_action(v: i32) -> &'static str {
    match int::ChangeAction::try_from(v).unwrap_or(int::ChangeAction::Unspecified) {
        int::ChangeAction::Add => "add",
        int::ChangeAction::Change => "change",
        int::ChangeAction::Remove => "remove",
        int::ChangeAction::Unspecified => "unknown",
    }
}

fn side(json: &str) -> Option<String> {
    (!json.is_empty()).then(|| json.to_string())
}

impl From<&ord::OrderPlan> for OrderPlanView {
    fn from(p: &ord::OrderPlan) -> Self {
        Self {
            items: p
                .items
                .iter()
                .map(|i| ItemPlanView {
                    id: i.item_id.clone(),
                    service: i.service.clone(),
                    action: states::item_action(i.action).to_string(),
                    generation: i.generation,
                    domains: i
                        .domains
                        .iter()
                        .map(|d| DomainPlanView {
                            domain: d.domain.clone(),
                            changes: d
                                .changes
                                .iter()
                                .map(|c| ChangeView {
                                    site: c.site.clone(),
                                    kind: c.kind.clone(),
                                    blueprint: c.blueprint.clone(),
                                    action: change_action(c.action).to_string(),
                                    fields: c
                                        .fields
                                        .iter()
                                        .map(|f| FieldView {
                                            path: f.path.clone(),
                                            before: side(&f.before_json),
                                            after: side(&f.after_json),
                                        })
                                        .collect(),
                                })
                                .collect(),
                            refusal: d.refusal.clone(),
                            error: d.error.clone(),
                            held_until: d.held_until.as_ref().map(|t| {
                                maestro_common::time::rfc3339(maestro_common::time::millis(Some(t)))
                            }),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// The plan as a table with the field changes below it, or as JSON/YAML.
pub fn render(plan: &OrderPlanView, output: Output) -> String {
    if output != Output::Table {
        return structured(plan, output);
    }
    let mut t = Table::new(&[
        "ITEM",
        "SERVICE",
        "ACTION",
        "GEN",
        "DOMAIN",
        "SITE",
        "BLUEPRINT",
        "KIND",
        "CHANGE",
    ]);
    let mut fields = String::new();
    for item in &plan.items {
        let base = || {
            vec![
                item.id.clone(),
                item.service.clone(),
                item.action.clone(),
                item.generation.to_string(),
            ]
        };
        for d in &item.domains {
            let whole_domain = if !d.error.is_empty() {
                Some(format!(
                    "not known, the domain was not reached: {}",
                    d.error
                ))
            } else if !d.refusal.is_empty() {
                Some(d.refusal.clone())
            } else if d.changes.is_empty() {
                Some("no change".to_string())
            } else {
                None
            };
            if let Some(what) = whole_domain {
                let mut row = base();
                row.extend([d.domain.clone(), "-".into(), "-".into(), "-".into(), what]);
                t.row(row);
            }
            for c in &d.changes {
                let mut change = c.action.clone();
                if let Some(until) = &d.held_until {
                    change.push_str(&format!(" (held until {until})"));
                }
                let mut row = base();
                row.extend([
                    d.domain.clone(),
                    c.site.clone(),
                    c.blueprint.clone(),
                    c.kind.clone(),
                    change,
                ]);
                t.row(row);
                for f in &c.fields {
                    fields.push_str(&format!(
                        "  {}/{}/{}: {}: {} -> {}\n",
                        visible(&d.domain),
                        visible(&c.site),
                        visible(&c.blueprint),
                        visible(&f.path),
                        visible(f.before.as_deref().unwrap_or("(none)")),
                        visible(f.after.as_deref().unwrap_or("(none)")),
                    ));
                }
            }
        }
    }
    let mut out = t.render();
    if !fields.is_empty() {
        out.push_str("\nField changes:\n");
        out.push_str(&fields);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> ord::OrderPlan {
        let change = |site: &str, action: int::ChangeAction, fields: Vec<int::FieldChange>| {
            int::BlueprintChange {
                site: site.into(),
                kind: "ProcessDeployment".into(),
                blueprint: "web".into(),
                action: action as i32,
                fields,
            }
        };
        ord::OrderPlan {
            items: vec![ord::ItemPlan {
                item_id: "1".into(),
                service: "web".into(),
                action: ord::ItemAction::Modify as i32,
                generation: 3,
                domains: vec![
                    ord::DomainPlan {
                        domain: "north".into(),
                        changes: vec![
                            change(
                                "north-1",
                                int::ChangeAction::Change,
                                vec![int::FieldChange {
                                    path: "spec.replicas".into(),
                                    before_json: "1".into(),
                                    after_json: "2".into(),
                                }],
                            ),
                            change("north-2", int::ChangeAction::Add, vec![]),
                        ],
                        ..Default::default()
                    },
                    ord::DomainPlan {
                        domain: "south".into(),
                        refusal: "refused by the domain's policy (max_replicas): at most 1".into(),
                        ..Default::default()
                    },
                    ord::DomainPlan {
                        domain: "west".into(),
                        error: "Unavailable: connection refused".into(),
                        ..Default::default()
                    },
                ],
            }],
        }
    }

    /// The table is read by people and scripts alike: its exact form is pinned here.
    #[test]
    fn the_table_matches_its_golden_form() {
        let got = render(&OrderPlanView::from(&plan()), Output::Table);
        let golden = include_str!("plan_view_golden.txt");
        assert_eq!(got, golden, "got:\n{got}");
    }

    #[test]
    fn json_keeps_every_field_change() {
        let got = render(&OrderPlanView::from(&plan()), Output::Json);
        let v: serde_json::Value = serde_json::from_str(&got).unwrap();
        let north = &v["items"][0]["domains"][0];
        assert_eq!(north["changes"][0]["fields"][0]["path"], "spec.replicas");
        assert_eq!(north["changes"][0]["fields"][0]["before"], "1");
        assert_eq!(north["changes"][1]["action"], "add");
        let refusal = v["items"][0]["domains"][1]["refusal"].as_str().unwrap();
        assert!(refusal.contains("max_replicas"), "{refusal}");
    }
}
