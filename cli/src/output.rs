//! Rendering views as tables, JSON or YAML.

use crate::escape::visible;
use crate::table::{Table, age_of};
use crate::view::{DomainView, IntentView, LogRecordView, OrderView, ServiceSpecView};
use serde::Serialize;

/// Output format (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Output {
    /// Aligned columns for people.
    #[default]
    Table,
    /// Pretty JSON.
    Json,
    /// YAML.
    Yaml,
}

/// Serialises `value` as pretty JSON or YAML (ending in a newline).
pub fn structured<T: Serialize + ?Sized>(value: &T, output: Output) -> String {
    let mut text = match output {
        Output::Yaml => {
            serde_yaml::to_string(value).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
        }
        _ => serde_json::to_string_pretty(value)
            .unwrap_or_else(|e| format!("\"cannot render: {e}\"")),
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

fn short(id: &str) -> String {
    id.chars().take(8).collect()
}

/// One order: a summary block and one row per (item, domain); ages as of now.
pub fn order(o: &OrderView, output: Output) -> String {
    order_at(o, output, maestro_common::time::now_millis())
}

/// [`order`] with the ages in reasons computed at `now_ms`.
pub fn order_at(o: &OrderView, output: Output, now_ms: i64) -> String {
    if output != Output::Table {
        return structured(o, output);
    }
    let mut out = String::new();
    let mut field = |k: &str, v: &str| {
        if !v.is_empty() {
            out.push_str(&format!("{:<13}{}\n", format!("{k}:"), visible(v)));
        }
    };
    field("Order", &o.id);
    field("External id", &o.external_id);
    field("Description", &o.description);
    field("State", &o.state);
    field("Ordered by", &o.ordered_by);
    field("Organisation", &o.organisation);
    let created = o
        .order_date
        .as_deref()
        .map(|d| format!("{d} ({} ago)", age_of(Some(d))))
        .unwrap_or_default();
    field("Created", &created);
    field("Completed", o.completion_date.as_deref().unwrap_or(""));
    field("Revision", &o.revision.to_string());
    out.push('\n');
    out.push_str(&order_items_table(o).render());
    if o.site_detail_omitted {
        out.push_str(
            "\nPer-site progress left out: the order is too large to send whole \
             (`maestroctl intent get` shows a domain's sites).\n",
        );
    }
    let withheld: Vec<String> = o
        .order_item
        .iter()
        .flat_map(|i| i.domain_progress.iter().map(move |d| (i, d)))
        .filter(|(_, d)| !d.withheld.is_empty())
        .map(|(i, d)| {
            let what: Vec<&str> = d
                .withheld
                .iter()
                .map(|w| match w.as_str() {
                    "site_detail" => "per-site detail",
                    "logs" => "logs",
                    other => other,
                })
                .collect();
            format!(
                "  item {} in {}: {}\n",
                visible(&i.id),
                visible(&d.domain),
                visible(&what.join(", "))
            )
        })
        .collect();
    if !withheld.is_empty() {
        out.push_str("\nWithheld by the domain (its disclosure rules for this organisation):\n");
        out.extend(withheld);
    }
    let rollouts: Vec<String> = o
        .order_item
        .iter()
        .filter_map(|i| {
            let r = i.rollout.as_ref()?;
            Some(format!(
                "  item {}: {}\n",
                visible(&i.id),
                visible(&r.line())
            ))
        })
        .collect();
    if !rollouts.is_empty() {
        out.push_str("\nRollouts (maestroctl rollout status ID shows every site):\n");
        out.extend(rollouts);
    }
    let reasons: Vec<String> = o
        .order_item
        .iter()
        .filter(|i| !i.reason.is_empty() || !i.reasons.is_empty())
        .map(|i| {
            let why = reason::shown(Some(&i.reasons), &i.reason, now_ms);
            format!("  item {}: {}\n", visible(&i.id), visible(&why))
        })
        .collect();
    if !reasons.is_empty() {
        out.push_str("\nReasons:\n");
        out.extend(reasons);
    }
    if !o.note.is_empty() {
        out.push_str("\nNotes:\n");
        for n in &o.note {
            out.push_str(&format!(
                "  {}  {}  {}\n",
                visible(n.date.as_deref().unwrap_or("-")),
                visible(&n.author),
                visible(&n.text)
            ));
        }
    }
    out
}

/// The item/domain progress table of an order.
pub fn order_items_table(o: &OrderView) -> Table {
    let mut t = Table::new(&[
        "ITEM",
        "SERVICE",
        "ACTION",
        "SPEC",
        "STATE",
        "DOMAIN",
        "DELIVERY",
        "SERVICE-STATE",
        "READY",
        "GEN",
        "HEARD",
    ]);
    for item in &o.order_item {
        let base = vec![
            item.id.clone(),
            item.service.name.clone(),
            item.action.clone(),
            item.service.service_specification.id.clone(),
            item.state.clone(),
        ];
        if item.domain_progress.is_empty() {
            t.row(base);
            continue;
        }
        for d in &item.domain_progress {
            let mut row = base.clone();
            row.extend([
                if d.leaving {
                    format!("{} (leaving)", d.domain)
                } else {
                    d.domain.clone()
                },
                format!("{} ({})", d.delivery, d.delivery_attempts),
                if d.unreachable {
                    format!("{} (unreachable)", d.service_state)
                } else {
                    d.service_state.clone()
                },
                format!("{}/{}", d.ready, d.total),
                format!("{}/{}", d.observed_generation, d.generation),
                age_of(d.last_heard.as_deref()),
            ]);
            t.row(row);
        }
    }
    t
}

/// A list of orders.
pub fn orders(list: &[OrderView], output: Output) -> String {
    if output != Output::Table {
        return structured(list, output);
    }
    let mut t = Table::new(&["ID", "EXTERNAL-ID", "STATE", "ITEMS", "SERVICES", "AGE"]);
    for o in list {
        let services: Vec<&str> = o
            .order_item
            .iter()
            .map(|i| i.service.name.as_str())
            .collect();
        t.row(vec![
            o.id.clone(),
            o.external_id.clone(),
            o.state.clone(),
            o.order_item.len().to_string(),
            services.join(","),
            age_of(o.order_date.as_deref()),
        ]);
    }
    t.render()
}

/// Registered domains.
pub fn domains(list: &[DomainView], output: Output) -> String {
    if output != Output::Table {
        return structured(list, output);
    }
    let mut t = Table::new(&[
        "ID",
        "STATE",
        "REGION",
        "ENDPOINT",
        "SITES",
        "LABELS",
        "FREE",
        "HEARTBEAT",
    ]);
    for d in list {
        let free = d.capacity.as_ref().map_or_else(
            || "-".to_string(),
            |c| {
                format!(
                    "{:.1} cores, {:.1} GiB",
                    c.free_cpu_millis as f64 / 1000.0,
                    c.free_memory_bytes as f64 / f64::from(1u32 << 30)
                )
            },
        );
        let labels: Vec<String> = d.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        t.row(vec![
            d.id.clone(),
            d.state.clone(),
            d.region.clone(),
            d.endpoint.clone(),
            d.sites.join(","),
            labels.join(","),
            free,
            // Computed here from the timestamp, so it is current at rendering.
            d.last_heartbeat.as_deref().map_or_else(
                || "never".to_string(),
                |t| format!("{} ago", age_of(Some(t))),
            ),
        ]);
    }
    t.render()
}

/// Intents of one domain; ages as of now.
pub fn intents(list: &[IntentView], output: Output) -> String {
    intents_at(list, output, maestro_common::time::now_millis())
}

/// [`intents`] with the ages in reasons computed at `now_ms`.
pub fn intents_at(list: &[IntentView], output: Output, now_ms: i64) -> String {
    if output != Output::Table {
        return structured(list, output);
    }
    let mut t = Table::new(&[
        "ID", "SERVICE", "GEN", "STATE", "READY", "OBSERVED", "DELETED", "ORDER", "MESSAGE",
    ]);
    for i in list {
        t.row(vec![
            i.id.clone(),
            i.service_name.clone(),
            i.generation.to_string(),
            i.state.clone(),
            format!("{}/{}", i.ready, i.total),
            i.observed_generation.to_string(),
            i.deleted.to_string(),
            short(&i.order_id),
            reason::shown(Some(&i.reasons), &i.message, now_ms),
        ]);
    }
    t.render()
}

/// Catalog entries.
pub fn specs(list: &[ServiceSpecView], output: Output) -> String {
    if output != Output::Table {
        return structured(list, output);
    }
    let mut t = Table::new(&[
        "ID",
        "NAME",
        "VERSION",
        "STATUS",
        "CHARACTERISTICS",
        "OFFERED-BY",
    ]);
    for s in list {
        let chars: Vec<String> = s
            .service_spec_characteristic
            .iter()
            .map(|c| {
                format!(
                    "{}:{}{}",
                    c.name,
                    c.value_type,
                    if c.required { "!" } else { "" }
                )
            })
            .collect();
        t.row(vec![
            s.id.clone(),
            s.name.clone(),
            s.version.clone(),
            s.lifecycle_status.clone(),
            chars.join(","),
            s.offered_by.join(","),
        ]);
    }
    t.render()
}

/// One log record: a text line, one JSON object per line, or one YAML document.
pub fn log_record(r: &LogRecordView, output: Output) -> String {
    match output {
        Output::Table => format!(
            "{} {}/{} {} g{} {} {}\n",
            visible(r.observed_at.as_deref().unwrap_or("-")),
            visible(&r.domain),
            visible(&r.site),
            if r.blueprint.is_empty() {
                "-".into()
            } else {
                visible(&r.blueprint)
            },
            r.generation,
            if r.level.is_empty() {
                "info".into()
            } else {
                visible(&r.level)
            },
            visible(&r.message)
        ),
        Output::Json => format!("{}\n", serde_json::to_string(r).unwrap_or_default()),
        Output::Yaml => format!("---\n{}", structured(r, Output::Yaml)),
    }
}

pub mod reason;

#[cfg(test)]
mod tests;
