//! The service specifications this domain offers (config key `catalog_dir`): read from its own
//! catalog directory, published to maestro with the registration, re-read while running so a
//! change reaches maestro without a restart, and held against every intent: a domain that
//! publishes a catalog runs only the specifications it publishes, from the blueprint templates
//! it published, whatever maestro sends.
//!
//! Without `catalog_dir` the domain publishes nothing and offers maestro's own catalog.

use crate::intent::Intent;
use crate::policy::Refusal;
use maestro_common::catalog::{CatalogError, load_documents, spec_from_json};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// A checked catalog: its documents and the templates of each spec.
#[derive(Debug, Clone, PartialEq)]
struct Published {
    documents: Vec<Value>,
    templates: BTreeMap<String, Vec<Value>>,
}

/// The domain's published catalog, if it has one. Shared; re-read with [`Self::reload`].
#[derive(Debug, Default)]
pub struct Offered {
    dir: Option<PathBuf>,
    current: RwLock<Option<Published>>,
}

impl Offered {
    /// Reads the catalog in `dir` (none: the domain publishes no catalog). A bad file fails
    /// here, named.
    pub fn load(dir: Option<&Path>) -> Result<Self, CatalogError> {
        let current = dir.map(read).transpose()?;
        Ok(Self {
            dir: dir.map(Path::to_path_buf),
            current: RwLock::new(current),
        })
    }

    /// Reads the directory again; `Ok(true)` when what is published changed. On an error the
    /// last good catalog stays published.
    pub fn reload(&self) -> Result<bool, CatalogError> {
        let Some(dir) = &self.dir else {
            return Ok(false);
        };
        let fresh = read(dir)?;
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.as_ref() == Some(&fresh) {
            return Ok(false);
        }
        *current = Some(fresh);
        Ok(true)
    }

    /// Whether the domain publishes a catalog.
    pub fn publishes(&self) -> bool {
        self.dir.is_some()
    }

    /// The published documents as JSON text (empty when the domain publishes none).
    pub fn documents(&self) -> Vec<String> {
        self.read_current(|p| p.documents.iter().map(Value::to_string).collect())
            .unwrap_or_default()
    }

    /// Refuses `intent` when the domain publishes a catalog and the intent's spec is not in
    /// it, or comes with other blueprint templates than the ones published.
    pub fn check(&self, intent: &Intent) -> Result<(), Refusal> {
        let verdict = self.read_current(|p| match p.templates.get(&intent.spec_id) {
            None => Err(format!(
                "service specification {:?} is not in this domain's catalog",
                intent.spec_id
            )),
            Some(t) if *t != intent.blueprint_templates => Err(format!(
                "the blueprint templates of {:?} differ from the ones this domain published",
                intent.spec_id
            )),
            Some(_) => Ok(()),
        });
        match verdict {
            None | Some(Ok(())) => Ok(()),
            Some(Err(reason)) => Err(Refusal {
                rule: "catalog",
                reason,
            }),
        }
    }

    fn read_current<T>(&self, f: impl FnOnce(&Published) -> T) -> Option<T> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(f)
    }
}

fn read(dir: &Path) -> Result<Published, CatalogError> {
    let mut documents = Vec::new();
    let mut templates = BTreeMap::new();
    for (file, doc) in load_documents(dir)? {
        let bad = |reason: String| CatalogError::File {
            file: file.clone(),
            reason,
        };
        let spec = spec_from_json(&doc).map_err(|e| bad(e.to_string()))?;
        if templates
            .insert(spec.id.to_string(), spec.blueprints.clone())
            .is_some()
        {
            return Err(bad(format!("id: duplicate '{}'", spec.id)));
        }
        documents.push(doc);
    }
    Ok(Published {
        documents,
        templates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PUMP: &str = "id: pump\nversion: \"1\"\nblueprints:\n  - kind: ProcessDeployment\n    metadata: { name: \"${service}\" }\n    spec: { command: /opt/pump, replicas: 1 }\n";

    fn intent(spec: &str, templates: Vec<Value>) -> Intent {
        let mut i = crate::intent::sample("svc");
        i.spec_id = spec.into();
        i.blueprint_templates = templates;
        i
    }

    #[test]
    fn a_published_catalog_decides_what_the_domain_runs_and_is_reread() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pump.yaml"), PUMP).unwrap();
        let offered = Offered::load(Some(dir.path())).unwrap();
        assert!(offered.publishes());
        assert_eq!(offered.documents().len(), 1);
        let templates = vec![
            json!({"kind": "ProcessDeployment", "metadata": {"name": "${service}"},
                                    "spec": {"command": "/opt/pump", "replicas": 1}}),
        ];
        assert!(offered.check(&intent("pump", templates.clone())).is_ok());
        let e = offered
            .check(&intent("valve", templates.clone()))
            .unwrap_err();
        assert_eq!(e.rule, "catalog");
        assert!(e.reason.contains("not in this domain's catalog"), "{e}");
        let other = vec![
            json!({"kind": "ProcessDeployment", "metadata": {"name": "x"}, "spec": {"command": "/bin/sh"}}),
        ];
        let e = offered.check(&intent("pump", other)).unwrap_err();
        assert!(e.reason.contains("differ"), "{e}");

        assert!(!offered.reload().unwrap(), "nothing changed");
        std::fs::write(dir.path().join("valve.json"), r#"{"id":"valve"}"#).unwrap();
        assert!(offered.reload().unwrap());
        assert_eq!(offered.documents().len(), 2);
        assert!(offered.check(&intent("valve", vec![])).is_ok());

        std::fs::write(dir.path().join("broken.yaml"), "id: [").unwrap();
        let e = offered.reload().unwrap_err();
        assert!(e.to_string().contains("broken.yaml"), "{e}");
        assert_eq!(offered.documents().len(), 2, "the last good catalog stays");
    }

    #[test]
    fn without_a_catalog_dir_nothing_is_published_and_nothing_is_refused() {
        let offered = Offered::load(None).unwrap();
        assert!(!offered.publishes());
        assert!(offered.documents().is_empty());
        assert!(offered.check(&intent("anything", vec![])).is_ok());
        assert!(!offered.reload().unwrap());
    }
}
