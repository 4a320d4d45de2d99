//! Checks a [`NewOrder`]'s items against the catalog, the registered domains and the service
//! inventory: spec exists, characteristics fit the spec (defaults applied), placement resolves
//! to registered domains and sites, and the templates dry-render to valid names.

use crate::catalog::{ServiceSpec, ValueType};
use crate::error::OrderError;
use crate::inventory::{InventoryEntry, Target, next_generation};
use crate::model::{Action, CharacteristicValue, Placement, ServiceRef};
use crate::offers::Offers;
use crate::registry::DomainRecord;
use crate::request::NewItem;
use maestro_common::{FieldError, ResourceName, ids, template};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What resolution needs to know.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The catalog, with which domain offers which spec.
    pub catalog: &'a Offers,
    /// Registered domains.
    pub domains: &'a [DomainRecord],
    /// Inventory entries of the services the order names.
    pub inventory: &'a BTreeMap<String, InventoryEntry>,
    /// Which domains are down and how loaded each is, for placements that ask for a count.
    pub fit: &'a crate::placement::Fit,
}

/// An item ready to be stored and fanned out.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedItem {
    /// Item id.
    pub id: String,
    /// Action.
    pub action: Action,
    /// The service with validated characteristics.
    pub service: ServiceRef,
    /// Placement as ordered (or inherited from the inventory).
    pub placement: Placement,
    /// Domains and sites it goes to.
    pub targets: Vec<Target>,
    /// Blueprint templates, each a JSON document.
    pub templates: Vec<String>,
    /// Generation the inventory gave it at resolution time (re-checked when stored).
    pub generation: u64,
}

/// Whether `domain` offers spec `id`; the reason names who does when it does not.
fn offered(catalog: &Offers, domain: &DomainRecord, id: &str) -> Result<(), String> {
    if catalog.offers(domain, id) {
        return Ok(());
    }
    let why = if catalog.conflicting(id).contains(&domain.id.as_str()) {
        "publishes another specification under that id"
    } else {
        "does not offer it"
    };
    Err(format!(
        "domain '{}' {why} (service specification '{id}')",
        domain.id
    ))
}

/// Resolves item `index` of an order.
pub fn resolve_item(
    index: usize,
    item: &NewItem,
    ctx: Context<'_>,
) -> Result<ResolvedItem, OrderError> {
    let at = format!("order.items[{index}]");
    let name = item.service_name.as_str();
    let current = ctx.inventory.get(name);
    let generation = next_generation(name, item.action, current)?;
    let spec_field = format!("{at}.service.service_specification.id");
    if item.action == Action::Delete {
        let Some(cur) = current else {
            return Err(OrderError::FailedPrecondition(format!(
                "service '{name}' does not exist"
            )));
        };
        if !item.spec_id.is_empty() && item.spec_id != cur.spec_id {
            return Err(FieldError::new(
                spec_field,
                format!("service '{name}' is of spec '{}'", cur.spec_id),
            )
            .into());
        }
        let spec = ctx.catalog.get(&cur.spec_id);
        return Ok(ResolvedItem {
            id: item.id.to_string(),
            action: item.action,
            service: ServiceRef {
                name: name.to_string(),
                spec_id: cur.spec_id.clone(),
                spec_name: spec.as_ref().map(|s| s.name.clone()).unwrap_or_default(),
                spec_version: cur.spec_version.clone(),
                characteristics: cur.characteristics.clone(),
            },
            placement: cur.placement.clone(),
            targets: cur.targets.clone(),
            templates: Vec::new(),
            generation,
        });
    }
    if let Some(was) = &item.pinned {
        return pinned(&at, item, was, generation, ctx);
    }
    let spec = ctx.catalog.get(&item.spec_id).ok_or_else(|| {
        FieldError::new(
            &spec_field,
            format!("unknown service specification '{}'", item.spec_id),
        )
    })?;
    let base = current
        .filter(|c| c.spec_id == item.spec_id)
        .map_or(&[][..], |c| &c.characteristics[..]);
    let characteristics = resolve_characteristics(&at, &spec, &item.characteristics, base)?;
    let inherit = item.action == Action::Modify
        && item.placement.domains.is_empty()
        && item.placement.domain_selector.is_empty();
    let (placement, targets) = match current {
        Some(cur) if inherit => (cur.placement.clone(), cur.targets.clone()),
        _ => (
            item.placement.clone(),
            resolve_targets_fit(
                &at,
                &item.placement,
                ctx.domains,
                |d| offered(ctx.catalog, d, spec.id.as_str()),
                ctx.fit,
            )?,
        ),
    };
    let service = ServiceRef {
        name: name.to_string(),
        spec_id: spec.id.to_string(),
        spec_name: spec.name.clone(),
        spec_version: spec.version.clone(),
        characteristics,
    };
    dry_render(&at, &spec, &service, &targets, ctx.domains, generation)?;
    Ok(ResolvedItem {
        id: item.id.to_string(),
        action: item.action,
        service,
        placement,
        targets,
        templates: spec.blueprints.iter().map(Value::to_string).collect(),
        generation,
    })
}

/// An item that restores `was`, an earlier state of the service, as it was: its spec,
/// characteristics, blueprints and placement (they were checked when they were ordered). With
/// a placement that asks for a count (a fail-over), its domains are chosen again.
fn pinned(
    at: &str,
    item: &NewItem,
    was: &InventoryEntry,
    generation: u64,
    ctx: Context<'_>,
) -> Result<ResolvedItem, OrderError> {
    let (placement, targets) = if item.placement.count > 0 {
        let targets = resolve_targets_fit(
            at,
            &item.placement,
            ctx.domains,
            |d| offered(ctx.catalog, d, &was.spec_id),
            ctx.fit,
        )?;
        (item.placement.clone(), targets)
    } else {
        (was.placement.clone(), was.targets.clone())
    };
    Ok(ResolvedItem {
        id: item.id.to_string(),
        action: item.action,
        service: ServiceRef {
            name: was.name.clone(),
            spec_id: was.spec_id.clone(),
            spec_name: String::new(),
            spec_version: was.spec_version.clone(),
            characteristics: was.characteristics.clone(),
        },
        placement,
        targets,
        templates: was.templates.clone(),
        generation,
    })
}

/// Validates submitted characteristics against `spec`, over `base` (the current values of a
/// modified service), applying defaults.
pub fn resolve_characteristics(
    at: &str,
    spec: &ServiceSpec,
    given: &[(String, Value, String)],
    base: &[CharacteristicValue],
) -> Result<Vec<CharacteristicValue>, FieldError> {
    let mut values: BTreeMap<&str, Value> = BTreeMap::new();
    for (j, (name, value, client_type)) in given.iter().enumerate() {
        let field = format!("{at}.service.service_characteristic[{j}]");
        let Some(sc) = spec.characteristic(name) else {
            let known: Vec<&str> = spec
                .characteristics
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            return Err(FieldError::new(
                field,
                format!(
                    "unknown characteristic '{name}' (spec '{}' has: {})",
                    spec.id,
                    known.join(", ")
                ),
            ));
        };
        if let Some(t) = ValueType::parse(client_type).filter(|t| *t != sc.value_type) {
            return Err(FieldError::new(
                format!("{field}.value_type"),
                format!(
                    "'{}' is {}, not {}",
                    name,
                    sc.value_type.as_str(),
                    t.as_str()
                ),
            ));
        }
        let value = unwrap_openslice(value.clone(), sc.value_type);
        if value.is_null() {
            return Err(FieldError::new(
                format!("{field}.value"),
                format!("'{name}' needs a value"),
            ));
        }
        let value = sc.value_type.coerce(value.clone()).ok_or_else(|| {
            FieldError::new(
                format!("{field}.value"),
                format!(
                    "'{name}' must be of type {}, got {value}",
                    sc.value_type.as_str()
                ),
            )
        })?;
        sc.check(&value).map_err(|reason| {
            FieldError::new(format!("{field}.value"), format!("{name}: {reason}"))
        })?;
        values.insert(name.as_str(), value);
    }
    let mut out = Vec::with_capacity(spec.characteristics.len());
    for sc in &spec.characteristics {
        let value = values
            .remove(sc.name.as_str())
            .or_else(|| {
                base.iter()
                    .find(|b| b.name == sc.name)
                    .map(|b| b.value.clone())
            })
            .or_else(|| sc.default.clone());
        // A kept value meets the spec as it is now (its bounds may have changed since).
        if let Some(v) = value.as_ref() {
            sc.check(v).map_err(|reason| {
                FieldError::new(
                    format!("{at}.service.service_characteristic"),
                    format!("{}: {reason} (the current value; give a new one)", sc.name),
                )
            })?;
        }
        match value {
            Some(value) => out.push(CharacteristicValue {
                name: sc.name.clone(),
                value,
                value_type: sc.value_type.as_str().to_string(),
            }),
            None if sc.required => {
                return Err(FieldError::new(
                    format!("{at}.service.service_characteristic"),
                    format!("missing required characteristic '{}'", sc.name),
                ));
            }
            None => {}
        }
    }
    Ok(out)
}

/// OpenSlice wraps values as `{value, alias}`; plain values pass through.
fn unwrap_openslice(value: Value, ty: ValueType) -> Value {
    match value {
        Value::Object(mut m)
            if ty != ValueType::Object
                && m.contains_key("value")
                && m.keys().all(|k| k == "value" || k == "alias") =>
        {
            m.remove("value").unwrap_or(Value::Null)
        }
        other => other,
    }
}

/// The domains (and their sites) `placement` selects among the registered `domains`.
pub fn resolve_targets(
    at: &str,
    placement: &Placement,
    domains: &[DomainRecord],
    offered: impl Fn(&DomainRecord) -> Result<(), String>,
) -> Result<Vec<Target>, FieldError> {
    resolve_targets_fit(
        at,
        placement,
        domains,
        offered,
        &crate::placement::Fit::default(),
    )
}

/// Whether site `site` of `d` carries every label of `selector` (the domain's labels, then the
/// site's own, which win).
fn site_matches(d: &DomainRecord, site: &str, selector: &BTreeMap<String, String>) -> bool {
    let own = d.site_labels.get(site);
    selector
        .iter()
        .all(|(k, v)| own.and_then(|l| l.get(k)).or_else(|| d.labels.get(k)) == Some(v))
}

/// [`resolve_targets`], choosing `placement.count` of the candidates with what `fit` knows.
pub fn resolve_targets_fit(
    at: &str,
    placement: &Placement,
    domains: &[DomainRecord],
    offered: impl Fn(&DomainRecord) -> Result<(), String>,
    fit: &crate::placement::Fit,
) -> Result<Vec<Target>, FieldError> {
    let explicit = !placement.domains.is_empty();
    let chosen: Vec<&DomainRecord> = if explicit {
        let mut v = Vec::new();
        for (k, d) in placement.domains.iter().enumerate() {
            let field = format!("{at}.placement.domains[{k}]");
            let rec = domains.iter().find(|r| r.id == *d).ok_or_else(|| {
                FieldError::new(&field, format!("domain '{d}' is not registered"))
            })?;
            offered(rec).map_err(|reason| FieldError::new(&field, reason))?;
            v.push(rec);
        }
        v
    } else if !placement.domain_selector.is_empty() {
        let matching: Vec<&DomainRecord> = domains
            .iter()
            .filter(|r| {
                placement
                    .domain_selector
                    .iter()
                    .all(|(k, val)| r.labels.get(k) == Some(val))
            })
            .collect();
        let field = format!("{at}.placement.domain_selector");
        let Some(first) = matching.first() else {
            return Err(FieldError::new(field, "matches no registered domain"));
        };
        let v: Vec<&DomainRecord> = matching
            .iter()
            .copied()
            .filter(|r| offered(r).is_ok())
            .collect();
        if v.is_empty() {
            let reason = offered(first).err().unwrap_or_default();
            return Err(FieldError::new(
                field,
                format!("no domain it matches offers the service: {reason}"),
            ));
        }
        v
    } else {
        return Err(FieldError::new(
            format!("{at}.placement"),
            "give domains or a domain_selector",
        ));
    };
    let candidates = chosen.len();
    let Some(chosen) = crate::placement::choose(placement, chosen, fit) else {
        return Err(FieldError::new(
            format!("{at}.placement.count"),
            format!(
                "asks for {} domains; {candidates} are candidates, {} of them avoided",
                placement.count,
                placement.avoid.len()
            ),
        ));
    };
    if chosen.is_empty() {
        return Err(FieldError::new(
            format!("{at}.placement.avoid"),
            "avoids every candidate domain",
        ));
    }
    for (k, s) in placement.sites.iter().enumerate() {
        if !chosen.iter().any(|d| d.sites.contains(s)) {
            let names: Vec<&str> = chosen.iter().map(|d| d.id.as_str()).collect();
            return Err(FieldError::new(
                format!("{at}.placement.sites[{k}]"),
                format!("site '{s}' is not a site of {}", names.join(", ")),
            ));
        }
    }
    let mut targets = Vec::new();
    let selecting = !placement.sites.is_empty()
        || !placement.site_selector.is_empty()
        || placement.site_count > 0;
    for (k, d) in chosen.iter().enumerate() {
        if !selecting {
            // Every site of the domain, also those it adds later.
            targets.push(Target {
                domain: d.id.clone(),
                sites: Vec::new(),
            });
            continue;
        }
        let listed = |s: &&String| placement.sites.is_empty() || placement.sites.contains(s);
        let matching: Vec<&String> = d
            .sites
            .iter()
            .filter(listed)
            .filter(|s| site_matches(d, s, &placement.site_selector))
            .collect();
        let sites = crate::placement::choose_sites(placement, d, matching);
        if sites.is_empty() {
            if explicit {
                return Err(FieldError::new(
                    format!("{at}.placement.domains[{k}]"),
                    format!(
                        "domain '{}' has none of the requested sites (sites, site_selector)",
                        d.id
                    ),
                ));
            }
            continue;
        }
        targets.push(Target {
            domain: d.id.clone(),
            sites,
        });
    }
    Ok(targets)
}

/// Renders every template for one sample site per target so bad names fail at the edge.
fn dry_render(
    at: &str,
    spec: &ServiceSpec,
    service: &ServiceRef,
    targets: &[Target],
    domains: &[DomainRecord],
    generation: u64,
) -> Result<(), FieldError> {
    let field = format!("{at}.service");
    for t in targets {
        let registered = domains.iter().find(|d| d.id == t.domain);
        let site = t
            .sites
            .first()
            .or_else(|| registered.and_then(|d| d.sites.first()))
            .map_or("site", String::as_str);
        let mut vars: Map<String, Value> = service.characteristics_object();
        vars.insert("service".into(), Value::from(service.name.clone()));
        vars.insert("domain".into(), Value::from(t.domain.clone()));
        vars.insert("site".into(), Value::from(site));
        vars.insert(
            "intent".into(),
            Value::from(ids::intent_id(&service.name, &t.domain)),
        );
        vars.insert("generation".into(), Value::from(generation));
        for (b, tpl) in spec.blueprints.iter().enumerate() {
            let rendered = template::render_blueprint(&format!("blueprints[{b}]"), tpl, &vars)
                .map_err(|e| {
                    FieldError::new(
                        &field,
                        format!("rendering template {}: {}", e.field, e.reason),
                    )
                })?;
            for (path, v) in [
                ("kind", rendered.get("kind")),
                (
                    "metadata.name",
                    rendered.get("metadata").and_then(|m| m.get("name")),
                ),
            ] {
                let text = v.and_then(Value::as_str).unwrap_or_default();
                ResourceName::parse(path, text).map_err(|e| {
                    FieldError::new(
                        &field,
                        format!(
                            "template blueprints[{b}] renders {path} '{text}' for domain '{}': {}",
                            t.domain, e.reason
                        ),
                    )
                })?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
