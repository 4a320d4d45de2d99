//! The domain's policy: what it accepts from maestro, whoever ordered it. An intent that breaks
//! it is refused before anything is stored, with the rule and the reason; maestro records the
//! refusal on the order item (`rejected` by this domain, never retried) and the other domains
//! go on. Every rule is off when left empty, so a domain without a `policy` section takes what
//! its sites can run.

use crate::intent::Intent;
use crate::translator::RenderedBlueprint;
use maestro_common::{FieldError, ResourceName};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most entries of one list of the policy.
const MAX_ENTRIES: usize = 256;

/// What a domain accepts (key `policy` of its config).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Service specification ids the domain runs; empty: any.
    pub specs: Vec<String>,
    /// What a container image must start with (`registry.example.com/plant/`); images without
    /// a registry are also matched in their full form (`docker.io/library/mysql:5.7`). Empty: any.
    pub image_prefixes: Vec<String>,
    /// Directories a native program must be in (`/opt/maestro/`); empty: any.
    pub command_dirs: Vec<String>,
    /// Most replicas one blueprint may ask for at one site; none: the sites' own bound.
    pub max_replicas: Option<u32>,
    /// Sites that take orders; when set, an intent must name its sites and all must be here.
    pub sites: Vec<String>,
    /// Organisations whose operators may order here; when set, an intent must carry one of
    /// them (maestro authenticates who ordered). Empty: any.
    pub organisations: Vec<String>,
    /// What leaves the domain, per ordering organisation (see [`crate::disclosure`]).
    pub disclosure: crate::disclosure::Disclosure,
    /// When changes are published to the sites (see [`crate::windows`]); empty: any time.
    pub maintenance_windows: Vec<crate::windows::Window>,
}

/// Why the policy refuses an intent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused by the domain's policy ({rule}): {reason}")]
pub struct Refusal {
    /// The rule: `specs`, `image_prefixes`, `command_dirs`, `max_replicas`, `sites`,
    /// `organisations` or `catalog`.
    pub rule: &'static str,
    /// What broke it.
    pub reason: String,
}

fn refuse(rule: &'static str, reason: impl Into<String>) -> Result<(), Refusal> {
    Err(Refusal {
        rule,
        reason: reason.into(),
    })
}

impl Policy {
    /// Checks the policy itself, naming the key under `field`.
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        let lists = [
            ("specs", &self.specs),
            ("image_prefixes", &self.image_prefixes),
            ("command_dirs", &self.command_dirs),
            ("sites", &self.sites),
            ("organisations", &self.organisations),
        ];
        for (key, list) in lists {
            if list.len() > MAX_ENTRIES {
                return Err(FieldError::new(
                    format!("{field}.{key}"),
                    format!("more than {MAX_ENTRIES} entries"),
                ));
            }
            for (i, v) in list.iter().enumerate() {
                maestro_common::text::check_text(
                    &format!("{field}.{key}[{i}]"),
                    v,
                    maestro_common::text::MAX_LINE_BYTES,
                    maestro_common::text::Lines::One,
                )?;
                if v.is_empty() {
                    return Err(FieldError::new(format!("{field}.{key}[{i}]"), "is empty"));
                }
            }
        }
        for (i, d) in self.command_dirs.iter().enumerate() {
            if !d.starts_with('/') || d.split('/').any(|c| c == "..") {
                return Err(FieldError::new(
                    format!("{field}.command_dirs[{i}]"),
                    "must be an absolute directory without `..`",
                ));
            }
        }
        for (i, s) in self.sites.iter().enumerate() {
            ResourceName::parse(&format!("{field}.sites[{i}]"), s)?;
        }
        for (i, o) in self.organisations.iter().enumerate() {
            ResourceName::parse(&format!("{field}.organisations[{i}]"), o)?;
        }
        crate::windows::validate(
            &self.maintenance_windows,
            &format!("{field}.maintenance_windows"),
        )?;
        self.disclosure.validate(&format!("{field}.disclosure"))
    }

    /// Whether `intent`, rendered as `rendered`, is within the policy.
    pub fn check(&self, intent: &Intent, rendered: &[RenderedBlueprint]) -> Result<(), Refusal> {
        if !self.organisations.is_empty() && !self.organisations.contains(&intent.organisation) {
            let who = if intent.organisation.is_empty() {
                "an operator of no named organisation".to_string()
            } else {
                format!("organisation {}", intent.organisation)
            };
            return refuse(
                "organisations",
                format!(
                    "{who} may not order here (only {})",
                    self.organisations.join(", ")
                ),
            );
        }
        if !self.specs.is_empty() && !self.specs.contains(&intent.spec_id) {
            return refuse(
                "specs",
                format!(
                    "service specification {:?} is not one this domain runs ({})",
                    intent.spec_id,
                    self.specs.join(", ")
                ),
            );
        }
        if !self.sites.is_empty() {
            if intent.sites.is_empty() {
                return refuse(
                    "sites",
                    format!(
                        "this domain takes orders for named sites only ({})",
                        self.sites.join(", ")
                    ),
                );
            }
            if let Some(s) = intent
                .sites
                .iter()
                .find(|s| !self.sites.contains(&s.to_string()))
            {
                return refuse("sites", format!("site {s} takes no orders"));
            }
        }
        for b in rendered {
            let doc: Value = serde_json::from_str(&b.content).unwrap_or(Value::Null);
            self.check_blueprint(b, &doc["spec"])?;
        }
        Ok(())
    }

    fn check_blueprint(&self, b: &RenderedBlueprint, spec: &Value) -> Result<(), Refusal> {
        let at = format!("blueprint {} at site {}", b.name, b.site);
        if let (Some(max), Some(n)) = (self.max_replicas, spec["replicas"].as_u64())
            && n > u64::from(max)
        {
            return refuse(
                "max_replicas",
                format!("{at} asks for {n} replicas, at most {max}"),
            );
        }
        if !self.command_dirs.is_empty() {
            let programs = std::iter::once(&spec["command"])
                .chain(
                    spec["instances"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|i| &i["command"]),
                )
                .filter_map(|c| match c {
                    Value::String(s) => Some(s.as_str()),
                    Value::Array(list) => list.first().and_then(Value::as_str),
                    _ => None,
                });
            for program in programs {
                if !self.command_dirs.iter().any(|d| in_dir(program, d)) {
                    return refuse(
                        "command_dirs",
                        format!(
                            "{at} runs {program:?}, outside {}",
                            self.command_dirs.join(", ")
                        ),
                    );
                }
            }
        }
        if !self.image_prefixes.is_empty() {
            let images = spec["instances"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(std::iter::once(spec))
                .filter_map(|i| i["image"].as_str());
            for image in images {
                let full = full_image_name(image);
                if !self
                    .image_prefixes
                    .iter()
                    .any(|p| image.starts_with(p.as_str()) || full.starts_with(p.as_str()))
                {
                    return refuse(
                        "image_prefixes",
                        format!(
                            "{at} uses image {image:?}, from none of {}",
                            self.image_prefixes.join(", ")
                        ),
                    );
                }
            }
        }
        Ok(())
    }
}

/// Whether the absolute `program` is inside directory `dir`, by whole path components and
/// without `..` (so `/opt/app/../../bin/sh` is not in `/opt/app`, nor `/opt/apps` in `/opt/app`).
fn in_dir(program: &str, dir: &str) -> bool {
    if !program.starts_with('/') || program.split('/').any(|c| c == ".." || c == ".") {
        return false;
    }
    let dir = dir.trim_end_matches('/');
    program
        .strip_prefix(dir)
        .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
}

/// `image` with Docker's implied registry and namespace: `mysql:5.7` →
/// `docker.io/library/mysql:5.7`, `grafana/grafana` → `docker.io/grafana/grafana`.
fn full_image_name(image: &str) -> String {
    let first = image.split('/').next().unwrap_or_default();
    let has_registry =
        image.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_registry {
        image.to_string()
    } else if image.contains('/') {
        format!("docker.io/{image}")
    } else {
        format!("docker.io/library/{image}")
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
