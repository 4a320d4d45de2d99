//! The `BlueprintDefinition`s of the two kinds, as COP-Pilot registers them: handler
//! `docker-reconciler` / `reconcile`, schemas with the fields of the protocol doc (extra keys
//! are accepted by the colony's schema subset).

use colony::model::BlueprintDefinition;
use serde_json::{Value, json};

use crate::spec::{DOCKER_DEPLOYMENT, EXECUTOR_DEPLOYMENT, EXECUTOR_TYPE};

/// Function name of reconcile processes.
const FUNCTION_NAME: &str = "reconcile";

fn string_map() -> Value {
    json!({"type": "object"})
}

fn string_array() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

/// The `DockerDeployment` definition (group `colonyos.io`) for colony `colony`.
pub fn docker_deployment_definition(colony: &str) -> BlueprintDefinition {
    let mut def = BlueprintDefinition::new(
        "dockerdeployments.colonyos.io",
        colony,
        "colonyos.io",
        DOCKER_DEPLOYMENT,
        EXECUTOR_TYPE,
        FUNCTION_NAME,
    );
    def.spec.names.short_names = vec!["dd".into()];
    def.spec.schema = Some(json!({
        "type": "object",
        "properties": {
            "replicas": {"type": "integer"},
            "executorName": {"type": "string"},
            "executorNames": string_array(),
            "instances": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "type": {"type": "string", "enum": ["container"]},
                        "image": {"type": "string"},
                        "environment": string_map(),
                        "ports": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "host": {"type": "integer"},
                                    "container": {"type": "integer"},
                                    "protocol": {"type": "string", "enum": ["tcp", "udp"]}
                                },
                                "required": ["container"]
                            }
                        },
                        "volumes": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "type": {"type": "string", "enum": ["named", "bind"]},
                                    "name": {"type": "string"},
                                    "hostPath": {"type": "string"},
                                    "mountPath": {"type": "string"},
                                    "readOnly": {"type": "boolean"}
                                },
                                "required": ["mountPath"]
                            }
                        },
                        "command": string_array(),
                        "args": string_array(),
                        "privileged": {"type": "boolean"},
                        "networkMode": {"type": "string"},
                        "healthCheck": {
                            "type": "object",
                            "properties": {
                                "command": string_array(),
                                "intervalSeconds": {"type": "integer"},
                                "timeoutSeconds": {"type": "integer"},
                                "retries": {"type": "integer"},
                                "startPeriodSeconds": {"type": "integer"}
                            },
                            "required": ["command"]
                        }
                    },
                    "required": ["name", "image"]
                }
            }
        },
        "required": ["instances"]
    }));
    def
}

/// The `ExecutorDeployment` definition (group `compute.colonies.io`) for colony `colony`.
pub fn executor_deployment_definition(colony: &str) -> BlueprintDefinition {
    let mut def = BlueprintDefinition::new(
        "executordeployments.compute.colonies.io",
        colony,
        "compute.colonies.io",
        EXECUTOR_DEPLOYMENT,
        EXECUTOR_TYPE,
        FUNCTION_NAME,
    );
    def.spec.names.short_names = vec!["ed".into()];
    def.spec.schema = Some(json!({
        "type": "object",
        "properties": {
            "image": {"type": "string"},
            "executorType": {"type": "string"},
            "executorName": {"type": "string"},
            "executorNames": string_array(),
            "replicas": {"type": "integer"},
            // A number or a string ("500m", "512Mi"): no type constraint.
            "cpu": {"description": "CPU limit, e.g. 2, 0.5 or \"500m\""},
            "memory": {"description": "memory limit, e.g. \"512Mi\" or bytes"},
            "env": string_map(),
            "ports": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "port": {"type": "integer"},
                        "protocol": {"type": "string", "enum": ["tcp", "udp"]}
                    },
                    "required": ["port"]
                }
            }
        },
        "required": ["image", "executorType"]
    }));
    def
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_name_the_handler() {
        for (def, kind) in [
            (docker_deployment_definition("c"), DOCKER_DEPLOYMENT),
            (executor_deployment_definition("c"), EXECUTOR_DEPLOYMENT),
        ] {
            assert_eq!(def.kind, "BlueprintDefinition");
            assert_eq!(def.metadata.colony_name, "c");
            assert_eq!(def.spec.names.kind, kind);
            assert_eq!(def.spec.handler.executor_type, "docker-reconciler");
            assert_eq!(def.spec.handler.function_name, "reconcile");
            let schema = def.spec.schema.unwrap();
            assert_eq!(schema["type"], "object");
            assert!(schema["required"].as_array().is_some_and(|r| !r.is_empty()));
        }
    }
}
