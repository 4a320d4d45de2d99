use super::*;
use serde_json::json;

fn bp(kind: &str, spec: Value) -> Blueprint {
    let mut b = Blueprint::new(kind, "web", "site", spec);
    b.metadata.generation = 3;
    b
}

#[test]
fn docker_deployment_expands_instances_and_replicas() {
    let b = bp(
        DOCKER_DEPLOYMENT,
        json!({
            "replicas": 2,
            "instances": [
                {"name": "api", "type": "container", "image": "local/busybox:1",
                 "environment": {"A": "1", "B": 2},
                 "ports": [{"host": 8080, "container": 80, "protocol": "tcp"}, {"container": "53", "protocol": "UDP"}],
                 "volumes": [
                     {"type": "named", "name": "data", "mountPath": "/data"},
                     {"type": "bind", "hostPath": "/srv/cfg", "mountPath": "/cfg", "readOnly": true},
                     {"type": "bind", "name": "/srv/x", "mountPath": "/x"}
                 ],
                 "command": ["/bin/httpd"], "args": ["-f", "-p", "8080"],
                 "privileged": true, "networkMode": "none", "extra": {"ignored": true}},
                {"name": "db", "image": "local/busybox:2"}
            ]
        }),
    );
    let c = desired_containers(&b, "site", "host").unwrap();
    let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["web-api-0", "web-api-1", "web-db-0", "web-db-1"]);
    let api = &c[1];
    assert_eq!(api.replica, 1);
    assert_eq!(api.generation, 3);
    assert_eq!(api.env["B"], "2");
    assert_eq!(api.ports[0].host, Some(8080));
    assert_eq!(api.ports[1].protocol, "udp");
    assert_eq!(api.ports_label(), "8080:80/tcp,53/udp");
    assert_eq!(api.volumes[0].bind_string(), "data:/data");
    assert_eq!(api.volumes[1].bind_string(), "/srv/cfg:/cfg:ro");
    assert_eq!(api.volumes[2].kind, VolumeKind::Bind);
    assert_eq!(
        api.entrypoint.as_deref(),
        Some(&["/bin/httpd".to_string()][..])
    );
    assert_eq!(api.cmd.as_ref().unwrap().len(), 3);
    assert!(api.privileged);
    assert_eq!(api.network_mode, "none");
    assert_eq!(c[2].network_mode, "host", "default network mode");
    assert!(c[2].entrypoint.is_none() && c[2].cmd.is_none());
    let l = api.labels();
    assert_eq!(l[labels::MANAGED], "true");
    assert_eq!(l[labels::BLUEPRINT], "web");
    assert_eq!(l[labels::GENERATION], "3");
    assert_eq!(l[labels::COLONY], "site");
    assert_eq!(l[labels::INSTANCE], "api");
    assert_eq!(l[labels::REPLICA], "1");
}

#[test]
fn replicas_default_to_one() {
    let b = bp(
        DOCKER_DEPLOYMENT,
        json!({"instances": [{"name": "a", "image": "i"}]}),
    );
    assert_eq!(desired_containers(&b, "site", "host").unwrap().len(), 1);
    let zero = bp(
        DOCKER_DEPLOYMENT,
        json!({"replicas": 0, "instances": [{"name": "a", "image": "i"}]}),
    );
    assert!(
        desired_containers(&zero, "site", "host")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn executor_deployment_names_and_identity() {
    let b = bp(
        EXECUTOR_DEPLOYMENT,
        json!({
            "image": "local/busybox:1", "executorType": "ml", "replicas": 2,
            "env": {"X": "y"}, "ports": [{"name": "http", "port": 9000, "protocol": "tcp"}],
            "cpu": "500m", "memory": "64Mi", "executorName": "worker",
            "volumes": [{"host": "/tmp/a", "container": "/a"}], "privileged": false
        }),
    );
    let c = desired_containers(&b, "site", "host").unwrap();
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].name, "web-0");
    assert_eq!(c[1].name, "web-1");
    assert_eq!(c[0].instance, "");
    assert_eq!(c[1].env["COLONIES_EXECUTOR_NAME"], "worker-1");
    assert_eq!(c[0].env["COLONIES_EXECUTOR_TYPE"], "ml");
    assert_eq!(c[0].env["COLONIES_COLONY_NAME"], "site");
    assert_eq!(c[0].env["X"], "y");
    assert_eq!(c[0].ports[0].host, Some(9000));
    assert_eq!(c[0].nano_cpus, Some(500_000_000));
    assert_eq!(c[0].memory_bytes, Some(64 * 1024 * 1024));
    assert_eq!(c[0].volumes[0].bind_string(), "/tmp/a:/a");
}

#[test]
fn invalid_specs_name_the_field() {
    let cases = [
        (DOCKER_DEPLOYMENT, json!({}), "spec.instances"),
        (
            DOCKER_DEPLOYMENT,
            json!({"instances": [{"image": "i"}]}),
            "spec.instances[0].name",
        ),
        (
            DOCKER_DEPLOYMENT,
            json!({"instances": [{"name": "a"}]}),
            "spec.instances[0].image",
        ),
        (
            DOCKER_DEPLOYMENT,
            json!({"instances": [{"name": "a", "image": "i"}, {"name": "a", "image": "j"}]}),
            "duplicate",
        ),
        (
            DOCKER_DEPLOYMENT,
            json!({"replicas": -1, "instances": [{"name": "a", "image": "i"}]}),
            "spec.replicas",
        ),
        (
            DOCKER_DEPLOYMENT,
            json!({"instances": [{"name": "a", "image": "i", "ports": [{"container": 70000}]}]}),
            "ports[0].container",
        ),
        (
            DOCKER_DEPLOYMENT,
            json!({"instances": [{"name": "a", "image": "i", "ports": [{"container": 1, "protocol": "sctp"}]}]}),
            "protocol",
        ),
        (
            DOCKER_DEPLOYMENT,
            json!({"instances": [{"name": "a", "image": "i", "volumes": [{"type": "bind", "hostPath": "rel", "mountPath": "/x"}]}]}),
            "hostPath",
        ),
        (
            DOCKER_DEPLOYMENT,
            json!({"instances": [{"name": "a", "image": "i", "volumes": [{"type": "named", "mountPath": "/x"}]}]}),
            "volumes[0].name",
        ),
        (
            EXECUTOR_DEPLOYMENT,
            json!({"image": "i"}),
            "spec.executorType",
        ),
        (
            EXECUTOR_DEPLOYMENT,
            json!({"executorType": "t"}),
            "spec.image",
        ),
        (
            EXECUTOR_DEPLOYMENT,
            json!({"image": "i", "executorType": "t", "memory": "lots"}),
            "spec.memory",
        ),
        ("Other", json!({}), "not handled"),
    ];
    for (kind, spec, want) in cases {
        let err = desired_containers(&bp(kind, spec.clone()), "site", "host").unwrap_err();
        assert!(err.contains(want), "{spec}: {err:?} should mention {want}");
    }
}

#[test]
fn cpu_and_memory_units() {
    assert_eq!(parse_cpu(&json!(2)), Some(2_000_000_000));
    assert_eq!(parse_cpu(&json!("0.25")), Some(250_000_000));
    assert_eq!(parse_cpu(&json!("0")), None);
    assert_eq!(parse_memory(&json!("1Gi")), Some(1 << 30));
    assert_eq!(parse_memory(&json!("256M")), Some(256_000_000));
    assert_eq!(parse_memory(&json!(1024)), Some(1024));
    assert_eq!(parse_memory(&json!("x")), None);
}
