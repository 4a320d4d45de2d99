//! TMF spellings of the proto enums: camelCase for output, camelCase or OpenSlice UPPERCASE on input.

use maestro_proto::domain::v1::DomainState;
use maestro_proto::order::v1::{DeliveryState, ItemAction, OrderState, ServiceState};

/// TMF641 name of an order/item state (`inProgress`, ...); `unknown` for unspecified values.
pub fn order_state(v: i32) -> &'static str {
    match OrderState::try_from(v).unwrap_or(OrderState::Unspecified) {
        OrderState::Unspecified => "unknown",
        OrderState::Acknowledged => "acknowledged",
        OrderState::Rejected => "rejected",
        OrderState::Pending => "pending",
        OrderState::Held => "held",
        OrderState::InProgress => "inProgress",
        OrderState::Cancelled => "cancelled",
        OrderState::Completed => "completed",
        OrderState::Failed => "failed",
        OrderState::Partial => "partial",
    }
}

/// Parses a TMF641 state, accepting `inProgress`, `IN_PROGRESS`, `INPROGRESS`, `in-progress`, ...
/// OpenSlice's `INITIAL` is read as `acknowledged`.
pub fn parse_order_state(text: &str) -> Option<OrderState> {
    Some(match normalize(text).as_str() {
        "acknowledged" | "initial" => OrderState::Acknowledged,
        "rejected" => OrderState::Rejected,
        "pending" => OrderState::Pending,
        "held" => OrderState::Held,
        "inprogress" => OrderState::InProgress,
        "cancelled" | "canceled" => OrderState::Cancelled,
        "completed" => OrderState::Completed,
        "failed" => OrderState::Failed,
        "partial" => OrderState::Partial,
        _ => return None,
    })
}

/// Whether an order state is final (no further change expected).
pub fn is_final(state: i32) -> bool {
    matches!(
        OrderState::try_from(state),
        Ok(OrderState::Completed
            | OrderState::Failed
            | OrderState::Partial
            | OrderState::Cancelled
            | OrderState::Rejected)
    )
}

/// TMF641 name of an item action.
pub fn item_action(v: i32) -> &'static str {
    match ItemAction::try_from(v).unwrap_or(ItemAction::Unspecified) {
        ItemAction::Unspecified => "unknown",
        ItemAction::Add => "add",
        ItemAction::Modify => "modify",
        ItemAction::Delete => "delete",
    }
}

/// Parses an item action (`add`, `ADD`, `Modify`, ...). `noChange` is not supported.
pub fn parse_item_action(text: &str) -> Option<ItemAction> {
    Some(match normalize(text).as_str() {
        "add" => ItemAction::Add,
        "modify" => ItemAction::Modify,
        "delete" => ItemAction::Delete,
        _ => return None,
    })
}

/// TMF638 name of a service state as reported per domain.
pub fn service_state(v: i32) -> &'static str {
    match ServiceState::try_from(v).unwrap_or(ServiceState::Unspecified) {
        ServiceState::Unspecified => "unknown",
        ServiceState::Reserved => "reserved",
        ServiceState::Active => "active",
        ServiceState::Inactive => "inactive",
        ServiceState::Terminated => "terminated",
    }
}

/// TMF638 name of an intent's service state (the intent proto has its own enum, same values).
pub fn intent_service_state(v: i32) -> &'static str {
    service_state(v)
}

/// Name of a delivery state.
pub fn delivery_state(v: i32) -> &'static str {
    match DeliveryState::try_from(v).unwrap_or(DeliveryState::Unspecified) {
        DeliveryState::Unspecified => "unknown",
        DeliveryState::Pending => "pending",
        DeliveryState::Acknowledged => "acknowledged",
        DeliveryState::Rejected => "rejected",
    }
}

/// Name of a domain's registry state.
pub fn domain_state(v: i32) -> &'static str {
    match DomainState::try_from(v).unwrap_or(DomainState::Unspecified) {
        DomainState::Unspecified => "unknown",
        DomainState::Ready => "ready",
        DomainState::Unreachable => "unreachable",
    }
}

fn normalize(text: &str) -> String {
    text.trim()
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .collect::<String>()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_states_round_trip_through_tmf_names() {
        for s in [
            OrderState::Acknowledged,
            OrderState::Rejected,
            OrderState::Pending,
            OrderState::Held,
            OrderState::InProgress,
            OrderState::Cancelled,
            OrderState::Completed,
            OrderState::Failed,
            OrderState::Partial,
        ] {
            assert_eq!(parse_order_state(order_state(s as i32)), Some(s));
        }
        assert_eq!(order_state(OrderState::InProgress as i32), "inProgress");
    }

    #[test]
    fn accepts_openslice_spellings() {
        assert_eq!(
            parse_order_state("IN_PROGRESS"),
            Some(OrderState::InProgress)
        );
        assert_eq!(
            parse_order_state("INPROGRESS"),
            Some(OrderState::InProgress)
        );
        assert_eq!(parse_order_state("INITIAL"), Some(OrderState::Acknowledged));
        assert_eq!(parse_order_state("done"), None);
        assert_eq!(parse_item_action("ADD"), Some(ItemAction::Add));
        assert_eq!(parse_item_action("Modify"), Some(ItemAction::Modify));
        assert_eq!(parse_item_action("noChange"), None);
    }

    #[test]
    fn final_states() {
        assert!(is_final(OrderState::Completed as i32));
        assert!(is_final(OrderState::Partial as i32));
        assert!(!is_final(OrderState::InProgress as i32));
        assert!(!is_final(99));
    }
}
