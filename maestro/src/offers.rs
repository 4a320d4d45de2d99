//! The catalog as orders see it: maestro's own specifications and those the registered domains
//! publish, and which domain offers which.
//!
//! A domain that publishes no catalog offers every specification of maestro's own catalog (the
//! central one). A domain that publishes one offers exactly its specifications. One id names
//! one specification: maestro's own when it has one; otherwise the one most of its publishers
//! agree on (ties go to the one whose first publisher sorts first). A domain that publishes
//! something else under that id does not count as offering it, and is listed as conflicting,
//! so no order is ever checked against one definition and run from another.
//!
//! Invariant: [`Offers::get`] and [`Offers::offers`] agree: a domain offers a spec only in the
//! definition `get` returns.

use crate::catalog::{Catalog, ServiceSpec, spec_from_json};
use crate::error::StoreError;
use crate::registry::{DomainRecord, DomainRegistry};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// One definition published under an id, with the domains that publish it.
type Variant = (Arc<ServiceSpec>, BTreeSet<String>);

/// The offers built at one registry version.
type Cached = Option<(u64, Arc<Offers>)>;

/// Who offers what, built from the central catalog and the registered domains.
#[derive(Debug, Clone, Default)]
pub struct Offers {
    central: Catalog,
    catalog: Catalog,
    /// Specs each publishing domain offers (conflicting ones left out).
    published: BTreeMap<String, BTreeSet<String>>,
    /// Domains publishing another definition under a spec's id.
    conflicting: BTreeMap<String, BTreeSet<String>>,
}

impl From<Catalog> for Offers {
    /// Maestro's own catalog, offered by every domain that publishes none.
    fn from(central: Catalog) -> Self {
        Self::new(central, &[])
    }
}

impl Offers {
    /// The offers of `domains` over `central`. A stored catalog document that no longer parses
    /// (it was checked at registration) is left out, with a warning.
    pub fn new(central: Catalog, domains: &[DomainRecord]) -> Self {
        // spec id -> its definitions, each with its publishers.
        let mut variants: BTreeMap<String, Vec<Variant>> = BTreeMap::new();
        let mut publishers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for d in domains {
            let Some(docs) = &d.catalog else { continue };
            publishers.entry(d.id.clone()).or_default();
            for doc in docs {
                let spec = match spec_from_json(doc) {
                    Ok(s) => Arc::new(s),
                    Err(e) => {
                        tracing::warn!(domain = %d.id, error = %e, "a stored catalog document does not parse; ignored");
                        continue;
                    }
                };
                let list = variants.entry(spec.id.to_string()).or_default();
                match list.iter_mut().find(|(s, _)| **s == *spec) {
                    Some((_, by)) => {
                        by.insert(d.id.clone());
                    }
                    None => list.push((spec, BTreeSet::from([d.id.clone()]))),
                }
            }
        }
        let mut chosen: BTreeMap<String, Arc<ServiceSpec>> = central
            .shared()
            .map(|s| (s.id.to_string(), s.clone()))
            .collect();
        let mut conflicting: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (id, list) in variants {
            let most_agreed = list
                .iter()
                .max_by(|(_, a), (_, b)| {
                    a.len()
                        .cmp(&b.len())
                        .then_with(|| b.first().cmp(&a.first()))
                })
                .map(|(s, _)| s.clone());
            let Some(winner) = central.get(&id).or(most_agreed) else {
                continue;
            };
            for (spec, by) in &list {
                if **spec == *winner {
                    for domain in by {
                        publishers
                            .entry(domain.clone())
                            .or_default()
                            .insert(id.clone());
                    }
                } else {
                    conflicting
                        .entry(id.clone())
                        .or_default()
                        .extend(by.iter().cloned());
                }
            }
            chosen.insert(id, winner);
        }
        Self {
            catalog: Catalog::from_shared(chosen.into_values()),
            central,
            published: publishers,
            conflicting,
        }
    }

    /// The specification `id`, in the one definition orders are checked against.
    pub fn get(&self, id: &str) -> Option<Arc<ServiceSpec>> {
        self.catalog.get(id)
    }

    /// Every specification, by id.
    pub fn specs(&self) -> impl Iterator<Item = &ServiceSpec> {
        self.catalog.specs()
    }

    /// Whether `domain` offers spec `id`.
    pub fn offers(&self, domain: &DomainRecord, id: &str) -> bool {
        match &domain.catalog {
            None => self.central.get(id).is_some(),
            Some(_) => self
                .published
                .get(&domain.id)
                .is_some_and(|specs| specs.contains(id)),
        }
    }

    /// The domains of `domains` that offer spec `id`, by id.
    pub fn offered_by<'a>(&self, id: &str, domains: &'a [DomainRecord]) -> Vec<&'a str> {
        domains
            .iter()
            .filter(|d| self.offers(d, id))
            .map(|d| d.id.as_str())
            .collect()
    }

    /// Domains that publish another definition under spec `id`.
    pub fn conflicting(&self, id: &str) -> Vec<&str> {
        self.conflicting
            .get(id)
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect()
    }
}

/// The offers of the current registry, rebuilt only when a domain (re-)registered since the
/// last build. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CatalogView {
    central: Catalog,
    registry: DomainRegistry,
    cached: Arc<Mutex<Cached>>,
}

impl CatalogView {
    /// A view over maestro's own `central` catalog and `registry`.
    pub fn new(central: Catalog, registry: DomainRegistry) -> Self {
        Self {
            central,
            registry,
            cached: Arc::default(),
        }
    }

    /// Maestro's own catalog.
    pub fn central(&self) -> &Catalog {
        &self.central
    }

    /// The offers as of now.
    pub fn current(&self) -> Result<Arc<Offers>, StoreError> {
        let version = self.registry.version();
        if let Some((v, offers)) = self.lock().as_ref()
            && *v == version
        {
            return Ok(offers.clone());
        }
        let domains = self.registry.list()?;
        let offers = Arc::new(Offers::new(self.central.clone(), &domains));
        *self.lock() = Some((version, offers.clone()));
        Ok(offers)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
#[path = "offers_tests.rs"]
mod tests;
