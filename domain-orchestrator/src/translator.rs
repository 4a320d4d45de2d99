//! The translator: renders an intent's blueprint templates into typed blueprint documents per
//! site (the Git contract of `maestro_common::contract`). Pure functions, no I/O.

use crate::intent::Intent;
use maestro_common::contract::{self, BlueprintDocument};
use maestro_common::{FieldError, ResourceName, template};
use serde_json::{Map, Value};

pub use maestro_common::contract::{
    ANN_FALL_BACK_AFTER, ANN_INTENT_GENERATION, ANN_INTENT_ID, ANN_ORDER_ID, ANN_SERVICE,
    ANN_TRACEPARENT, LABEL_SERVICE,
};

/// One blueprint rendered for one site.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RenderedBlueprint {
    /// Target site.
    pub site: ResourceName,
    /// Blueprint kind.
    pub kind: ResourceName,
    /// `metadata.name`.
    pub name: ResourceName,
    /// Canonical JSON of the blueprint.
    pub content: String,
}

impl RenderedBlueprint {
    /// Path of the blueprint in the domain's Git repository.
    pub fn path(&self) -> String {
        contract::blueprint_path(self.site.as_str(), self.kind.as_str(), self.name.as_str())
    }
}

/// Renders the blueprints of `intent` that every target site in `sites` is to run. Without a
/// rollout (or deleted), every site runs the intent's templates. During a rollout a site the
/// rollout admits runs them (annotated with the rollout's `fall_back_after` when it is set); any
/// other site runs the previous spec, rendered exactly as the intent of that generation was
/// ([`Intent::previous_intent`]), or nothing of the service when there is none. Errors name the
/// template (`blueprint_templates_json[i]...`, `rollout.previous.blueprint_templates_json[i]...`).
pub fn render_intent(
    intent: &Intent,
    domain: &str,
    sites: &[ResourceName],
) -> Result<Vec<RenderedBlueprint>, FieldError> {
    let previous = intent.previous_intent();
    let fall_back_after = intent.rollout.as_ref().map_or(0, |r| r.fall_back_after);
    let mut out = Vec::with_capacity(sites.len() * intent.blueprint_templates.len());
    for site in sites {
        if intent.admits(site.as_str()) {
            render_site(&mut out, intent, domain, site, fall_back_after)?;
        } else if let Some(p) = &previous {
            render_site(&mut out, p, domain, site, 0).map_err(|e| e.within("rollout.previous"))?;
        }
    }
    Ok(out)
}

/// Renders every template of `intent` for `site` into `out`.
fn render_site(
    out: &mut Vec<RenderedBlueprint>,
    intent: &Intent,
    domain: &str,
    site: &ResourceName,
    fall_back_after: u32,
) -> Result<(), FieldError> {
    let vars = variables(intent, domain, site);
    for (i, t) in intent.blueprint_templates.iter().enumerate() {
        let field = format!("blueprint_templates_json[{i}]");
        let rendered = template::render_blueprint(&field, t, &vars)?;
        out.push(finish(&field, rendered, intent, site, fall_back_after)?);
    }
    Ok(())
}

fn variables(intent: &Intent, domain: &str, site: &ResourceName) -> Map<String, Value> {
    let mut vars = intent.characteristics.clone();
    vars.insert(
        "service".into(),
        Value::String(intent.service_name.to_string()),
    );
    vars.insert("domain".into(), Value::String(domain.to_string()));
    vars.insert("site".into(), Value::String(site.to_string()));
    vars.insert("intent".into(), Value::String(intent.id.clone()));
    vars.insert("generation".into(), Value::from(intent.generation));
    vars
}

fn finish(
    field: &str,
    doc: Value,
    intent: &Intent,
    site: &ResourceName,
    fall_back_after: u32,
) -> Result<RenderedBlueprint, FieldError> {
    let mut doc = BlueprintDocument::from_rendered(field, doc)?;
    let kind = ResourceName::parse(&format!("{field}.kind"), &doc.kind)?;
    let name = ResourceName::parse(&format!("{field}.metadata.name"), &doc.metadata.name)?;
    let service = intent.service_name.to_string();
    let meta = &mut doc.metadata;
    meta.labels.insert(LABEL_SERVICE.into(), service.clone());
    let ann = &mut meta.annotations;
    ann.insert(ANN_INTENT_ID.into(), intent.id.clone());
    ann.insert(ANN_INTENT_GENERATION.into(), intent.generation.to_string());
    ann.insert(ANN_ORDER_ID.into(), intent.order_id.clone());
    ann.insert(ANN_SERVICE.into(), service);
    ann.insert(ANN_TRACEPARENT.into(), intent.traceparent.clone());
    if fall_back_after > 0 {
        ann.insert(ANN_FALL_BACK_AFTER.into(), fall_back_after.to_string());
    }
    Ok(RenderedBlueprint {
        site: site.clone(),
        kind,
        name,
        content: doc.to_canonical(),
    })
}

/// Every built-in definition as (path, canonical JSON), e.g. `definitions/ProcessDeployment.json`.
pub fn definitions() -> Vec<(String, String)> {
    contract::builtin_definitions()
}

#[cfg(test)]
mod tests;
