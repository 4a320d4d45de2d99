use super::*;
use maestro_common::json::to_proto_value;
use maestro_common::status::StatusReason;
use maestro_proto::order::v1 as pb;
use serde_json::{Value, json};

pub(crate) fn sample_order() -> pb::ServiceOrder {
    let site = |name: &str, ready| pb::SiteProgress {
        site: name.into(),
        ready,
        total: 1,
        observed_generation: 1,
        last_heard: Some(maestro_common::time::timestamp(1_700_000_000_000)),
        ..Default::default()
    };
    pb::ServiceOrder {
        id: "0b7c6a2e-1111-2222-3333-444455556666".into(),
        idempotency_key: "demo-1".into(),
        external_id: "demo-1".into(),
        description: "Demo order".into(),
        state: pb::OrderState::InProgress as i32,
        order_date: Some(maestro_common::time::timestamp(1_700_000_000_000)),
        revision: 4,
        note: vec![pb::Note {
            author: "maestro".into(),
            date: None,
            text: "acknowledged".into(),
        }],
        items: vec![pb::OrderItem {
            id: "1".into(),
            action: pb::ItemAction::Add as i32,
            state: pb::OrderState::InProgress as i32,
            service: Some(pb::Service {
                name: "hello".into(),
                service_specification: Some(pb::ServiceSpecRef {
                    id: "demo-app".into(),
                    ..Default::default()
                }),
                service_characteristic: vec![pb::Characteristic {
                    name: "replicas".into(),
                    value: Some(to_proto_value(&json!(2))),
                    value_type: String::new(),
                }],
            }),
            placement: Some(pb::Placement {
                domains: vec!["north".into()],
                ..Default::default()
            }),
            rollout: None,
            domains: vec![pb::DomainProgress {
                domain: "north".into(),
                intent_id: "i-1".into(),
                generation: 1,
                delivery: pb::DeliveryState::Acknowledged as i32,
                service_state: pb::ServiceState::Reserved as i32,
                observed_generation: 1,
                ready: 1,
                total: 2,
                sites: vec![site("north-1", 1), site("north-2", 0)],
                delivery_attempts: 1,
                ..Default::default()
            }],
            reason: "site north-2 in north unreachable".into(),
            reasons: vec![
                StatusReason::Unreachable {
                    domain: "north".into(),
                    site: Some("north-2".into()),
                    last_heard_ms: Some(1_700_000_000_000),
                }
                .into(),
            ],
        }],
        ..Default::default()
    }
}

#[test]
fn order_table_has_summary_and_aligned_rows() {
    let view = OrderView::from(&sample_order());
    let text = order_at(&view, Output::Table, 1_700_000_042_000);
    assert!(text.contains("State:       inProgress"), "{text}");
    let header = text
        .lines()
        .find(|l| l.starts_with("ITEM"))
        .expect("header");
    let row = text.lines().find(|l| l.starts_with("1 ")).expect("row");
    for col in ["DOMAIN", "READY", "GEN"] {
        let at = header.find(col).unwrap();
        assert_eq!(&row[at - 1..at], " ", "column {col} aligned in {row:?}");
        assert_ne!(&row[at..=at], " ", "column {col} aligned in {row:?}");
    }
    assert!(
        row.contains("north") && row.contains("acknowledged (1)") && row.contains("1/2"),
        "{row}"
    );
    assert!(
        text.contains("item 1: site north-2 in north unreachable (last heard 42s ago)"),
        "ages computed at the rendering time: {text}"
    );
}

#[test]
fn order_json_uses_tmf_names_and_states() {
    let view = OrderView::from(&sample_order());
    let v: Value = serde_json::from_str(&order(&view, Output::Json)).unwrap();
    assert_eq!(v["state"], "inProgress");
    assert_eq!(v["externalId"], "demo-1");
    assert_eq!(v["orderDate"], "2023-11-14T22:13:20+00:00");
    let item = &v["orderItem"][0];
    assert_eq!(item["action"], "add");
    assert_eq!(item["service"]["serviceSpecification"]["id"], "demo-app");
    assert_eq!(item["service"]["serviceCharacteristic"][0]["value"], 2);
    assert_eq!(item["domainProgress"][0]["delivery"], "acknowledged");
    assert_eq!(item["domainProgress"][0]["serviceState"], "reserved");
    assert_eq!(item["domainProgress"][0]["sites"][1]["site"], "north-2");
    assert_eq!(item["reason"], "site north-2 in north unreachable");
    assert_eq!(
        item["reasons"][0],
        json!({"kind": "unreachable", "domain": "north", "site": "north-2", "lastHeardMs": 1_700_000_000_000_i64})
    );
    assert!(v.get("items").is_none() && v.get("external_id").is_none());
}

#[test]
fn order_yaml_matches_json() {
    let view = OrderView::from(&sample_order());
    let yaml: Value = serde_yaml::from_str(&order(&view, Output::Yaml)).unwrap();
    let json: Value = serde_json::from_str(&order(&view, Output::Json)).unwrap();
    assert_eq!(yaml, json);
    assert!(order(&view, Output::Yaml).contains("state: inProgress"));
}

#[test]
fn order_list_table() {
    let view = OrderView::from(&sample_order());
    let text = orders(&[view.clone(), view], Output::Table);
    assert_eq!(text.lines().count(), 3);
    assert!(text.lines().nth(1).unwrap().contains("inProgress"));
    assert!(text.starts_with("ID "));
}

#[test]
fn log_record_formats() {
    let r = LogRecordView {
        domain: "north".into(),
        site: "north-1".into(),
        blueprint: "hello".into(),
        generation: 2,
        observed_at: None,
        level: "info".into(),
        message: "hello from maestro".into(),
        sequence: 7,
    };
    assert_eq!(
        log_record(&r, Output::Table),
        "- north/north-1 hello g2 info hello from maestro\n"
    );
    let v: Value = serde_json::from_str(log_record(&r, Output::Json).trim()).unwrap();
    assert_eq!(v["site"], "north-1");
    assert!(log_record(&r, Output::Yaml).starts_with("---\n"));
}

/// Text an attacker may have stored: an escape sequence that clears the screen and retitles
/// the terminal, a forged line and a bidirectional override.
const HOSTILE: &str = "\u{1b}[2J\u{1b}]0;pwned\u{7}\nState:       completed\u{202e}";

/// No character but the line feeds the renderer writes itself may steer the terminal.
fn assert_inert(text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| c != '\n' && maestro_common::text::is_forbidden(c))
        .collect();
    assert!(bad.is_empty(), "{bad:?} in {text}");
    assert!(
        !text.contains("\nState:       completed"),
        "a forged line: {text}"
    );
}

#[test]
fn tables_show_control_characters_as_escapes() {
    let mut o = sample_order();
    o.description = HOSTILE.into();
    o.external_id = HOSTILE.into();
    o.note[0].text = HOSTILE.into();
    o.items[0].reason = HOSTILE.into();
    o.items[0].domains[0].message = HOSTILE.into();
    let view = OrderView::from(&o);
    let text = order_at(&view, Output::Table, 1_700_000_042_000);
    assert_inert(&text);
    assert!(
        text.contains("\\x1b[2J\\x1b]0;pwned\\x07\\nState:"),
        "{text}"
    );
    assert_inert(&orders(std::slice::from_ref(&view), Output::Table));
    for line in crate::progress::entries(&o, 1_700_000_042_000) {
        assert_inert(&line.line);
    }
    let r = LogRecordView {
        domain: "north".into(),
        site: "north-1".into(),
        blueprint: String::new(),
        generation: 1,
        observed_at: None,
        level: HOSTILE.into(),
        message: HOSTILE.into(),
        sequence: 1,
    };
    let line = log_record(&r, Output::Table);
    assert_inert(line.trim_end_matches('\n'));
    assert_eq!(
        line.matches('\n').count(),
        1,
        "one record, one line: {line}"
    );
}

#[test]
fn json_and_yaml_escape_control_characters_and_keep_the_value() {
    let mut o = sample_order();
    o.description = HOSTILE.into();
    let view = OrderView::from(&o);
    let json = order_at(&view, Output::Json, 0);
    assert!(!json.contains('\u{1b}'), "{json}");
    let back: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(back["description"], HOSTILE);
    let yaml = order_at(&view, Output::Yaml, 0);
    assert!(!yaml.contains('\u{1b}'), "{yaml}");
    let back: Value = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(back["description"], HOSTILE);
}

#[test]
fn an_order_sent_without_its_per_site_progress_says_so() {
    let mut order = sample_order();
    let whole = order_at(&OrderView::from(&order), Output::Table, 1_700_000_042_000);
    assert!(!whole.contains("Per-site progress left out"), "{whole}");
    assert!(!order_at(&OrderView::from(&order), Output::Json, 0).contains("siteDetailOmitted"));
    order.site_detail_omitted = true;
    let view = OrderView::from(&order);
    let text = order_at(&view, Output::Table, 1_700_000_042_000);
    assert!(text.contains("Per-site progress left out"), "{text}");
    let json = order_at(&view, Output::Json, 0);
    assert!(json.contains("\"siteDetailOmitted\": true"), "{json}");
}
