//! Golden test of the Arrowhead core catalog entry: `examples/orders/arrowhead-c1.yaml` is
//! resolved against `examples/catalog/arrowhead-core.yaml` the way maestro does (defaults
//! applied), rendered for site `north-1` of domain `north` by the real domain translator, and
//! each blueprint's canonical JSON is compared with `tests/golden/arrowhead/<n>-<name>.json`
//! (seven files, numbered in dependency order).
//!
//! After an intended change, regenerate the golden files and review the diff:
//!
//! ```sh
//! UPDATE_GOLDEN=1 cargo test -p maestro-tests --test arrowhead_golden
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use domain_orchestrator::intent::Intent;
use domain_orchestrator::translator::{RenderedBlueprint, render_intent};
use maestro::catalog::Catalog;
use maestro::resolve::resolve_characteristics;
use maestro_common::ResourceName;
use serde_json::{Map, Value};
use site_agent::gitsync::order::{DEPENDS_ON, DesiredEntry, plan_order};

const DOMAIN: &str = "north";
const SITE: &str = "north-1";
/// The dependency order the catalog entry promises.
const ORDER: [&str; 7] = [
    "arrowhead-mysql",
    "serviceregistry",
    "authorization",
    "orchestrator",
    "eventhandler",
    "gatekeeper",
    "gateway",
];

fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/arrowhead")
}

/// Renders the example order's blueprints for `north-1`, in template order.
fn render_example() -> anyhow::Result<Vec<RenderedBlueprint>> {
    let catalog = Catalog::load(&repo_path("examples/catalog")).context("loading the catalog")?;
    let spec = catalog
        .get("arrowhead-core")
        .context("arrowhead-core is in examples/catalog")?;
    let order = maestro_cli::order_file::load(&repo_path("examples/orders/arrowhead-c1.yaml"))
        .context("parsing examples/orders/arrowhead-c1.yaml")?;
    let item = order.spec.items.first().context("the order has an item")?;
    let service = item.service.as_ref().context("the item names a service")?;
    assert_eq!(
        service
            .service_specification
            .as_ref()
            .map(|s| s.id.as_str()),
        Some("arrowhead-core")
    );
    assert_eq!(
        item.placement.as_ref().map(|p| p.domains.clone()),
        Some(vec![DOMAIN.to_string()])
    );
    let given: Vec<(String, Value, String)> = service
        .service_characteristic
        .iter()
        .map(|c| {
            let value = c
                .value
                .as_ref()
                .map_or(Value::Null, maestro_common::json::from_proto_value);
            (c.name.clone(), value, c.value_type.clone())
        })
        .collect();
    let values = resolve_characteristics("order.items[0]", &spec, &given, &[])?;
    let characteristics: Map<String, Value> =
        values.into_iter().map(|v| (v.name, v.value)).collect();
    let site = ResourceName::parse("site", SITE)?;
    let intent = Intent {
        id: maestro_common::ids::intent_id(&service.name, DOMAIN),
        generation: 1,
        service_name: ResourceName::parse("service", &service.name)?,
        // Fixed ids: the golden files must not change from run to run.
        order_id: "00000000-0000-4000-8000-000000000001".into(),
        order_item_id: item.id.clone(),
        spec_id: spec.id.to_string(),
        spec_version: spec.version.clone(),
        sites: vec![site.clone()],
        characteristics,
        blueprint_templates: spec.blueprints.clone(),
        deleted: false,
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
        organisation: String::new(),
        rollout: None,
    };
    Ok(render_intent(&intent, DOMAIN, &[site])?)
}

fn golden_file(index: usize, name: &str) -> PathBuf {
    golden_dir().join(format!("{}-{name}.json", index + 1))
}

fn pretty(content: &str) -> anyhow::Result<String> {
    let v: Value = serde_json::from_str(content)?;
    Ok(serde_json::to_string_pretty(&v)? + "\n")
}

#[test]
fn arrowhead_order_renders_the_golden_blueprints() -> anyhow::Result<()> {
    let rendered = render_example()?;
    let names: Vec<&str> = rendered.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ORDER, "seven blueprints in dependency order");
    for r in &rendered {
        assert_eq!(r.kind.as_str(), "DockerDeployment", "{}", r.name);
        assert_eq!(r.site.as_str(), SITE);
        assert_eq!(
            r.path(),
            format!("sites/{SITE}/DockerDeployment/{}.json", r.name)
        );
    }

    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        let dir = golden_dir();
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        for (i, r) in rendered.iter().enumerate() {
            std::fs::write(golden_file(i, r.name.as_str()), pretty(&r.content)?)?;
        }
        eprintln!(
            "rewrote {} golden files in {}",
            rendered.len(),
            dir.display()
        );
        return Ok(());
    }

    let mut on_disk: Vec<String> = std::fs::read_dir(golden_dir())
        .context("tests/golden/arrowhead (regenerate with UPDATE_GOLDEN=1)")?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect::<anyhow::Result<_>>()?;
    on_disk.sort();
    let expected: Vec<String> = rendered
        .iter()
        .enumerate()
        .map(|(i, r)| format!("{}-{}.json", i + 1, r.name))
        .collect();
    assert_eq!(
        on_disk, expected,
        "golden files (UPDATE_GOLDEN=1 regenerates them)"
    );
    let mut mismatches = Vec::new();
    for (i, r) in rendered.iter().enumerate() {
        let path = golden_file(i, r.name.as_str());
        let text = std::fs::read_to_string(&path)?;
        let golden: Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
        if maestro_common::json::canonical(&golden) != r.content {
            mismatches.push(format!(
                "{} differs from the rendering:\n{}",
                path.display(),
                pretty(&r.content)?
            ));
        }
    }
    if !mismatches.is_empty() {
        bail!(
            "{}\n(if the change is intended: UPDATE_GOLDEN=1 cargo test -p maestro-tests --test arrowhead_golden)",
            mismatches.join("\n")
        );
    }
    Ok(())
}

#[test]
fn arrowhead_blueprints_carry_their_dependencies() -> anyhow::Result<()> {
    let rendered = render_example()?;
    let docs: Vec<Value> = rendered
        .iter()
        .map(|r| serde_json::from_str(&r.content))
        .collect::<Result<_, _>>()?;
    let mut desired = BTreeMap::new();
    for (i, doc) in docs.iter().enumerate() {
        let name = ORDER[i];
        let deps: Vec<String> = doc["metadata"]["annotations"][DEPENDS_ON]
            .as_str()
            .map(|s| s.split(',').map(|d| d.trim().to_string()).collect())
            .unwrap_or_default();
        // Every dependency comes earlier in the file order; all but the database need it and
        // the service registry.
        for d in &deps {
            let at = ORDER.iter().position(|n| n == d);
            assert!(at.is_some_and(|at| at < i), "{name} depends on {d}");
        }
        if i > 0 {
            assert!(
                deps.iter().any(|d| d == "arrowhead-mysql"),
                "{name}: {deps:?}"
            );
        }
        if i > 1 {
            assert!(
                deps.iter().any(|d| d == "serviceregistry"),
                "{name}: {deps:?}"
            );
        }
        // The spec is what the Docker reconciler accepts.
        let mut bp =
            colony::model::Blueprint::new("DockerDeployment", name, SITE, doc["spec"].clone());
        bp.metadata.generation = 1;
        let containers = docker_reconciler::desired_containers(&bp, SITE, "host")
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        assert_eq!(containers.len(), 1, "{name}");
        assert_eq!(
            containers[0].network_mode, "host",
            "{name}: default network"
        );
        desired.insert(
            name.to_string(),
            DesiredEntry {
                depends_on: deps,
                changed: true,
            },
        );
    }
    // On an empty site only the database may be added first.
    let plan = plan_order(
        &desired,
        &BTreeMap::new(),
        &BTreeSet::new(),
        &BTreeMap::new(),
    );
    assert_eq!(plan.apply, vec!["arrowhead-mysql".to_string()]);
    assert_eq!(plan.waiting.len(), 6);
    Ok(())
}
