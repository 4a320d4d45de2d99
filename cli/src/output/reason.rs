//! Renders typed status reasons for people. Ages are computed here, from the timestamps the
//! reasons carry, against the `now` of the rendering; no status text is ever parsed.

use crate::table::human_age;
use maestro_common::status::{StatusReason, reasons_from_proto};
use maestro_proto::status::v1 as pb;
use std::time::Duration;

fn age(now_ms: i64, then_ms: i64) -> String {
    human_age(Duration::from_millis(
        u64::try_from(now_ms - then_ms).unwrap_or(0),
    ))
}

/// One reason at `now_ms`: its text, plus how long ago an unreachable peer was last heard and
/// when a retry is due.
pub fn render(r: &StatusReason, now_ms: i64) -> String {
    match r {
        StatusReason::Unreachable { last_heard_ms, .. } => match last_heard_ms {
            Some(t) => format!("{r} (last heard {} ago)", age(now_ms, *t)),
            None => format!("{r} (never heard)"),
        },
        StatusReason::Retrying {
            next_attempt_ms: Some(t),
            ..
        } if *t > now_ms => format!("{r}, next attempt in {}", age(*t, now_ms)),
        StatusReason::Retrying {
            next_attempt_ms: Some(_),
            ..
        } => format!("{r}, next attempt due"),
        _ => r.to_string(),
    }
}

/// Every reason at `now_ms`, joined by `; `.
pub fn render_all(reasons: &[StatusReason], now_ms: i64) -> String {
    reasons
        .iter()
        .map(|r| render(r, now_ms))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The typed form of reasons from a server; `None` when one is not understood (e.g. a kind
/// added by a newer server), in which case the server's text is shown as it is.
pub fn typed(reasons: &[pb::StatusReason]) -> Option<Vec<StatusReason>> {
    reasons_from_proto("reasons", reasons.to_vec()).ok()
}

/// What to show for reasons at `now_ms`: the typed ones rendered, else the server's `text`.
pub fn shown(reasons: Option<&[StatusReason]>, text: &str, now_ms: i64) -> String {
    match reasons {
        Some(r) if !r.is_empty() => render_all(r, now_ms),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn unreachable_shows_the_age_at_the_rendering_time() {
        let r = StatusReason::Unreachable {
            domain: "north".into(),
            site: Some("n2".into()),
            last_heard_ms: Some(NOW - 42_000),
        };
        assert_eq!(
            render(&r, NOW),
            "site n2 in north unreachable (last heard 42s ago)"
        );
        assert_eq!(
            render(&r, NOW + 200_000),
            "site n2 in north unreachable (last heard 4m ago)",
            "the age grows with the clock, not with new data"
        );
        let never = StatusReason::Unreachable {
            domain: "south".into(),
            site: None,
            last_heard_ms: None,
        };
        assert_eq!(
            render(&never, NOW),
            "domain south unreachable (never heard)"
        );
    }

    #[test]
    fn retrying_shows_when_the_next_attempt_is_due() {
        let r = StatusReason::Retrying {
            domain: "north".into(),
            error: "git push: locked".into(),
            attempt: 2,
            next_attempt_ms: Some(NOW + 5_000),
        };
        assert_eq!(
            render(&r, NOW),
            "domain north: retrying after: git push: locked (attempt 2), next attempt in 5s"
        );
        assert!(render(&r, NOW + 6_000).ends_with("next attempt due"));
    }

    #[test]
    fn reasons_are_joined_and_unknown_ones_fall_back_to_the_text() {
        let rs = vec![
            StatusReason::WaitingForSites {
                waiting: 1,
                total: 2,
            },
            StatusReason::SitesUnreachable {
                unreachable: 1,
                total: 2,
            },
        ];
        assert_eq!(
            render_all(&rs, NOW),
            "waiting for 1 of 2 sites; 1 of 2 sites unreachable"
        );
        let wire: Vec<pb::StatusReason> = rs.iter().map(Into::into).collect();
        assert_eq!(typed(&wire).as_deref(), Some(rs.as_slice()));
        let unknown = vec![pb::StatusReason { kind: None }];
        assert_eq!(typed(&unknown), None);
        assert_eq!(shown(None, "server text", NOW), "server text");
        assert_eq!(
            shown(Some(&rs[..1]), "ignored", NOW),
            "waiting for 1 of 2 sites"
        );
    }
}
