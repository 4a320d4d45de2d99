//! The Git/blueprint contract between a domain orchestrator (which writes it) and a site agent
//! (which reads it): the annotation and label keys, the repository layout, the typed blueprint
//! document and the built-in blueprint definitions. Both sides use this module and nothing else
//! for that contract, so it cannot drift. Pure data and functions, no I/O.

mod definitions;
mod document;
mod health;
mod paths;
mod refusal;

pub use definitions::{DefinitionDocument, builtin_definitions, process_deployment_definition};
pub use document::{BlueprintDocument, DocumentMetadata, intent_generation};
pub use health::{
    DEFAULT_FALL_BACK_AFTER, MAX_FALL_BACK_AFTER, STATUS_FELL_BACK, STATUS_UNHEALTHY, Verdict,
    fall_back_after, fell_back_at, fell_back_status, unhealthy_at, unhealthy_status,
};
pub use paths::{
    DEFINITIONS_DIR, SITES_DIR, blueprint_path, definition_path, parse_blueprint_path,
    parse_definition_file,
};
pub use refusal::{STATUS_INVALID_SPEC, invalid_spec_status, refusal_at};

/// Annotation every blueprint managed by Maestro carries: the intent id.
pub const ANN_INTENT_ID: &str = "maestro.io/intent-id";
/// Annotation: the intent generation (decimal string).
pub const ANN_INTENT_GENERATION: &str = "maestro.io/intent-generation";
/// Annotation: the order id.
pub const ANN_ORDER_ID: &str = "maestro.io/order-id";
/// Annotation: the service name.
pub const ANN_SERVICE: &str = "maestro.io/service";
/// Annotation: the W3C traceparent of the order.
pub const ANN_TRACEPARENT: &str = "maestro.io/traceparent";
/// Annotation: failed health checks in a row after which a site falls back from this
/// generation to what it ran before (set from a rollout's `gate.fall_back_after`).
pub const ANN_FALL_BACK_AFTER: &str = "maestro.io/fall-back-after";
/// Annotation: comma-separated names of blueprints of the same site that must be converged
/// before this one.
pub const ANN_DEPENDS_ON: &str = "maestro.io/depends-on";
/// Label naming the service on every blueprint.
pub const LABEL_SERVICE: &str = "maestro.io/service";
/// API group of Maestro's own blueprint kinds.
pub const GROUP: &str = "maestro.io";
