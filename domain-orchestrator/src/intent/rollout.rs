//! An intent's rollout: maestro moves a generation over the intent's target sites in waves.
//! The sites a rollout admits run the intent's generation; every other target site keeps the
//! previous spec (or runs nothing of the service when there is none). Validated at the gRPC
//! edge; errors name the field under `rollout.`.

use super::{Intent, MAX_GENERATION, MAX_SITES, characteristics, templates, text};
use maestro_common::contract::MAX_FALL_BACK_AFTER;
use maestro_common::{FieldError, ResourceName};
use maestro_proto::intent::v1 as pb;
use serde_json::{Map, Value};

/// Where a generation of an intent stands in its rollout.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IntentRollout {
    /// Increases each time maestro moves sites at the same generation; with the generation it
    /// orders the applies of the intent ([`super::Intent::order`]).
    pub step: u64,
    /// The target sites that run this generation.
    pub sites: Vec<ResourceName>,
    /// What every other target site keeps running; `None`: nothing of the service.
    pub previous: Option<PreviousSpec>,
    /// Failed health checks in a row after which a site falls back by itself (0 = the site's
    /// default); carried on the blueprints of this generation.
    pub fall_back_after: u32,
}

/// The spec the service had at an earlier generation, as maestro kept it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PreviousSpec {
    /// Its generation (below the intent's).
    pub generation: u64,
    /// The order that produced it.
    pub order_id: String,
    /// Catalog spec id.
    pub spec_id: String,
    /// Catalog spec version.
    pub spec_version: String,
    /// Characteristic name -> value.
    pub characteristics: Map<String, Value>,
    /// Blueprint templates.
    pub blueprint_templates: Vec<Value>,
    /// W3C traceparent of the order that produced it (empty: the intent's own).
    #[serde(default)]
    pub traceparent: String,
}

/// What the rollout of an intent means for ordering, rendering and status.
impl Intent {
    /// The rollout step (0 without a rollout).
    pub fn step(&self) -> u64 {
        self.rollout.as_ref().map_or(0, |r| r.step)
    }

    /// The order in which applies of one intent replace each other: (generation, rollout step).
    /// A higher one is a change, the same one a no-op, a lower one is ignored.
    pub fn order(&self) -> (u64, u64) {
        (self.generation, self.step())
    }

    /// Whether target site `site` runs this generation: always without a rollout (and when
    /// deleted), else when the rollout admits it.
    pub fn admits(&self, site: &str) -> bool {
        self.deleted || self.rollout.as_ref().is_none_or(|r| r.admits(site))
    }

    /// The generation target site `site` is to run: this one when it is admitted, else the
    /// rollout's previous generation; `None` when it is to run nothing of this service.
    pub fn desired_generation(&self, site: &str) -> Option<u64> {
        if self.admits(site) {
            return Some(self.generation);
        }
        self.rollout
            .as_ref()
            .and_then(|r| r.previous.as_ref())
            .map(|p| p.generation)
    }

    /// The intent as it was at the rollout's previous generation (what the sites the rollout
    /// does not admit keep running): the previous spec with this intent's id, service, sites,
    /// organisation and traceparent, and no rollout. `None` without a previous spec.
    pub fn previous_intent(&self) -> Option<Intent> {
        let p = self.rollout.as_ref()?.previous.as_ref()?;
        Some(Intent {
            id: self.id.clone(),
            generation: p.generation,
            service_name: self.service_name.clone(),
            order_id: p.order_id.clone(),
            order_item_id: self.order_item_id.clone(),
            spec_id: p.spec_id.clone(),
            spec_version: p.spec_version.clone(),
            sites: self.sites.clone(),
            characteristics: p.characteristics.clone(),
            blueprint_templates: p.blueprint_templates.clone(),
            deleted: false,
            traceparent: if p.traceparent.is_empty() {
                self.traceparent.clone()
            } else {
                p.traceparent.clone()
            },
            organisation: self.organisation.clone(),
            rollout: None,
        })
    }
}

impl IntentRollout {
    /// Validates the rollout of an intent at `generation` whose named sites are `targets`
    /// (empty: every site of the domain, which decides at render time). Field names are
    /// relative to the rollout (`sites[1]`, `previous.generation`).
    pub(super) fn parse(
        p: pb::IntentRollout,
        generation: u64,
        targets: &[ResourceName],
    ) -> Result<Self, FieldError> {
        let pb::IntentRollout {
            step,
            sites,
            previous,
            fall_back_after,
        } = p;
        if step > MAX_GENERATION {
            return Err(FieldError::new(
                "step",
                format!("must be at most {MAX_GENERATION}, got {step}"),
            ));
        }
        if sites.len() > MAX_SITES {
            return Err(FieldError::new(
                "sites",
                format!("more than {MAX_SITES} sites"),
            ));
        }
        let mut admitted: Vec<ResourceName> = Vec::with_capacity(sites.len());
        for (i, s) in sites.iter().enumerate() {
            let field = format!("sites[{i}]");
            let name = ResourceName::parse(&field, s)?;
            if admitted.contains(&name) {
                return Err(FieldError::new(field, format!("duplicate site '{s}'")));
            }
            if !targets.is_empty() && !targets.contains(&name) {
                return Err(FieldError::new(
                    field,
                    format!("site '{s}' is not a target of the intent (not in its sites)"),
                ));
            }
            admitted.push(name);
        }
        if fall_back_after > MAX_FALL_BACK_AFTER {
            return Err(FieldError::new(
                "fall_back_after",
                format!("must be 0..={MAX_FALL_BACK_AFTER}, got {fall_back_after}"),
            ));
        }
        let previous = previous
            .map(|p| PreviousSpec::parse(p, generation).map_err(|e| e.within("previous")))
            .transpose()?;
        Ok(Self {
            step,
            sites: admitted,
            previous,
            fall_back_after,
        })
    }

    /// Whether target site `site` runs the intent's generation.
    pub fn admits(&self, site: &str) -> bool {
        self.sites.iter().any(|s| s.as_str() == site)
    }
}

impl PreviousSpec {
    /// Validates the previous spec of an intent at `generation`, like the intent's own fields.
    fn parse(p: pb::PreviousSpec, generation: u64) -> Result<Self, FieldError> {
        let pb::PreviousSpec {
            generation: g,
            order_id,
            spec_id,
            spec_version,
            characteristics_json,
            blueprint_templates_json,
            traceparent,
        } = p;
        if g == 0 || g >= generation {
            let reason = match generation {
                1 => "a generation 1 has no previous generation".to_string(),
                _ => format!(
                    "must be 1..={} (below the intent's generation {generation}), got {g}",
                    generation - 1
                ),
            };
            return Err(FieldError::new("generation", reason));
        }
        Ok(Self {
            generation: g,
            order_id: text("order_id", order_id)?,
            spec_id: text("spec_id", spec_id)?,
            spec_version: text("spec_version", spec_version)?,
            characteristics: characteristics("characteristics_json", &characteristics_json)?,
            blueprint_templates: templates("blueprint_templates_json", &blueprint_templates_json)?,
            traceparent: text("traceparent", traceparent)?,
        })
    }
}

impl From<&IntentRollout> for pb::IntentRollout {
    fn from(r: &IntentRollout) -> Self {
        pb::IntentRollout {
            step: r.step,
            sites: r.sites.iter().map(ToString::to_string).collect(),
            previous: r.previous.as_ref().map(pb::PreviousSpec::from),
            fall_back_after: r.fall_back_after,
        }
    }
}

impl From<&PreviousSpec> for pb::PreviousSpec {
    fn from(p: &PreviousSpec) -> Self {
        pb::PreviousSpec {
            generation: p.generation,
            order_id: p.order_id.clone(),
            spec_id: p.spec_id.clone(),
            spec_version: p.spec_version.clone(),
            characteristics_json: Value::Object(p.characteristics.clone()).to_string(),
            blueprint_templates_json: p
                .blueprint_templates
                .iter()
                .map(ToString::to_string)
                .collect(),
            traceparent: p.traceparent.clone(),
        }
    }
}
