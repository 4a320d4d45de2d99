//! Differential test: the same request sequence goes to a real ColonyOS v1.9.12 server (Go,
//! PostgreSQL, from `scripts/colonies.sh`) and to the embedded colony; HTTP statuses, error
//! payloads and the normalised replies must match, except for the deliberate differences listed
//! in `DELIBERATE` (and in docs/colonyos.md). Both servers share the server owner's key and every
//! other key, so only the ids and times the servers make up are normalised.

#[path = "differential/normalise.rs"]
mod normalise;
#[path = "differential/scenario.rs"]
mod scenario;
#[path = "differential/wire.rs"]
mod wire;

use std::collections::{BTreeMap, HashMap};

use colony::{PrivateKey, ServerConfig};
use maestro_testkit::colonies::RealColonies;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use normalise::{normalise, shape};
use scenario::{Ids, Step, steps};
use wire::{Outcome, Signer, send};

/// Steps whose replies differ on purpose, with the reason (mirrored in docs/colonyos.md).
const DELIBERATE: &[(&str, &str)] = &[
    (
        "addcolony name with NUL",
        "names are validated: control characters are refused with 400",
    ),
    (
        "addcolony name with newline",
        "names are validated: control characters are refused with 400",
    ),
    (
        "addexecutor name with newline",
        "names are validated: control characters are refused with 400",
    ),
    (
        "adduser name with NUL",
        "names are validated: control characters are refused with 400",
    ),
    (
        "getcolony garbage signature",
        "403 as upstream; the reason names the Rust library's signature error, not Go's",
    ),
    (
        "addblueprintdefinition duplicate",
        "409 with a sentence instead of upstream's 500 carrying PostgreSQL's unique-constraint error",
    ),
    (
        "addexecutor duplicate id",
        "one key is one identity: a second executor with the id of a registered one is refused (upstream stores both and resolves the caller to either)",
    ),
    (
        "adduser duplicate id",
        "one key is one identity: a second user with the same id in a colony is refused (upstream stores both)",
    ),
];

/// Calls of pycolonies outside the project's scope: the embedded colony answers 400
/// `unsupported payload type`, upstream serves them.
const NOT_IMPLEMENTED: &str = "not implemented (outside the project's scope): the embedded colony answers 400 unsupported payload type";

/// List calls whose order upstream does not define (database row order): compared as sets.
const UNORDERED: &[&str] = &[
    "getcoloniesmsg",
    "getexecutorsmsg",
    "getusersmsg",
    "getblueprintdefinitionsmsg",
    "getblueprintsmsg",
];

fn sorted(v: Value) -> Value {
    match v {
        Value::Array(mut items) => {
            items.sort_by_key(|x| x.to_string());
            Value::Array(items)
        }
        other => other,
    }
}

struct Keys {
    by_name: HashMap<&'static str, PrivateKey>,
}

impl Keys {
    fn new(server: PrivateKey) -> Self {
        let mut by_name = HashMap::new();
        by_name.insert("server", server);
        for name in [
            "owner", "owner_b", "exec", "pending", "user", "user_b", "stranger",
        ] {
            by_name.insert(name, PrivateKey::generate());
        }
        Self { by_name }
    }

    fn id(&self, name: &str) -> String {
        self.by_name[name].id()
    }

    fn signer(&self, name: &str) -> Signer<'_> {
        match name {
            "garbage" => Signer::Garbage,
            "unsigned" => Signer::Unsigned,
            other => Signer::Key(
                self.by_name
                    .get(other)
                    .unwrap_or_else(|| panic!("no key named {other}")),
            ),
        }
    }

    /// id -> key name, for normalisation.
    fn known(&self) -> BTreeMap<String, String> {
        self.by_name
            .iter()
            .map(|(n, k)| (k.id(), (*n).to_owned()))
            .collect()
    }
}

fn fill(inner: &Value, vars: &HashMap<&'static str, String>) -> Value {
    let mut text = inner.to_string();
    for (var, value) in vars {
        text = text.replace(&format!("{{{var}}}"), value);
    }
    serde_json::from_str(&text).expect("a filled template is JSON")
}

/// How one step's replies differ, if they do.
fn compare(
    real: &Outcome,
    embedded: &Outcome,
    known: &BTreeMap<String, String>,
    unordered: bool,
) -> Option<String> {
    let (mut r, mut e) = (
        normalise(&real.payload, known),
        normalise(&embedded.payload, known),
    );
    if unordered {
        (r, e) = (sorted(r), sorted(e));
    }
    if real.status != embedded.status || real.error != embedded.error {
        return Some(format!(
            "status: real {} {r}\n          embedded {} {e}",
            real.status, embedded.status
        ));
    }
    if shape(&r) != shape(&e) {
        return Some(format!("shape: real {r}\n          embedded {e}"));
    }
    if r != e {
        return Some(format!("value: real {r}\n          embedded {e}"));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_colony_answers_like_colonies_v1_9_12() {
    let real = tokio::task::spawn_blocking(RealColonies::start)
        .await
        .expect("launcher task")
        .expect("the real ColonyOS server must start (scripts/colonies.sh)");
    let server_key = PrivateKey::from_hex(&real.server_prvkey).expect("server key");
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let config = ServerConfig::new(dir.path(), server_key.id(), "127.0.0.1:0".parse().unwrap());
    let embedded = colony::start(config, shutdown.clone()).await.unwrap();
    let embedded_url = format!("http://{}", embedded.addr);

    let keys = Keys::new(server_key);
    let known = keys.known();
    let ids = [
        keys.id("owner"),
        keys.id("owner_b"),
        keys.id("exec"),
        keys.id("pending"),
        keys.id("user"),
        keys.id("user_b"),
    ];
    let plan: Vec<Step> = steps(&Ids {
        owner: &ids[0],
        owner_b: &ids[1],
        exec: &ids[2],
        pending: &ids[3],
        user: &ids[4],
        user_b: &ids[5],
    });
    let deliberate: HashMap<&str, &str> = DELIBERATE.iter().copied().collect();
    let mut vars_real = HashMap::new();
    let mut vars_embedded = HashMap::new();
    let mut unexpected = Vec::new();
    let mut report = Vec::new();
    for step in &plan {
        let r = send(
            &real.url,
            keys.signer(step.signer),
            step.payload_type,
            &fill(&step.inner, &vars_real),
        )
        .await;
        let e = send(
            &embedded_url,
            keys.signer(step.signer),
            step.payload_type,
            &fill(&step.inner, &vars_embedded),
        )
        .await;
        if let Some((var, pointer)) = step.save {
            for (outcome, vars) in [(&r, &mut vars_real), (&e, &mut vars_embedded)] {
                if let Some(Value::String(s)) = outcome.payload.pointer(pointer) {
                    vars.insert(var, s.clone());
                }
            }
        }
        let unordered = UNORDERED.contains(&step.payload_type);
        let reason = deliberate.get(step.label).copied().or_else(|| {
            step.label
                .starts_with("pycolonies-only")
                .then_some(NOT_IMPLEMENTED)
        });
        match (compare(&r, &e, &known, unordered), reason) {
            (Some(diff), Some(reason)) => report.push(format!(
                "deliberate  {}: {reason}\n          {diff}",
                step.label
            )),
            (Some(diff), None) => unexpected.push(format!("DIFFERENT   {}: {diff}", step.label)),
            (None, Some(_)) => report.push(format!(
                "no longer different (drop it from DELIBERATE): {}",
                step.label
            )),
            (None, None) => {}
        }
    }
    shutdown.cancel();
    embedded.stopped().await;
    for line in report.iter().chain(&unexpected) {
        eprintln!("{line}");
    }
    eprintln!(
        "{} steps, {} deliberate differences, {} unexpected",
        plan.len(),
        report.len(),
        unexpected.len()
    );
    assert!(
        unexpected.is_empty(),
        "{} step(s) differ from colonies v1.9.12:\n{}\nreal server log tail:\n{}",
        unexpected.len(),
        unexpected.join("\n"),
        real.log_tail(20)
    );
}

/// On both servers: a process past its waiting deadline (`maxwaittime`) or its execution deadline
/// (no retries left) fails; the failure reasons must be the same.
async fn waiting_process_fails_alike(maxwaittime: bool) {
    let real = tokio::task::spawn_blocking(RealColonies::start)
        .await
        .expect("launcher task")
        .expect("the real ColonyOS server must start (scripts/colonies.sh)");
    let server_key = PrivateKey::from_hex(&real.server_prvkey).expect("server key");
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let config = ServerConfig::new(dir.path(), server_key.id(), "127.0.0.1:0".parse().unwrap());
    let embedded = colony::start(config, shutdown.clone()).await.unwrap();
    let urls = [real.url.clone(), format!("http://{}", embedded.addr)];
    let keys = Keys::new(server_key);
    let (owner, user, exec) = (keys.id("owner"), keys.id("user"), keys.id("exec"));
    let colony = "deadlines";
    let mut errors = Vec::new();
    for url in &urls {
        let setup = [
            (
                "server",
                "addcolonymsg",
                serde_json::json!({ "colony": { "colonyid": owner, "name": colony } }),
            ),
            (
                "owner",
                "addusermsg",
                serde_json::json!({ "user": { "colonyname": colony, "userid": user, "name": "u", "email": "", "phone": "" } }),
            ),
            (
                "owner",
                "addexecutormsg",
                serde_json::json!({ "executor": colony::Executor::new(&exec, "w", "x", colony) }),
            ),
            (
                "owner",
                "approveexecutormsg",
                serde_json::json!({ "colonyname": colony, "executorname": "x" }),
            ),
        ];
        for (signer, payload_type, inner) in setup {
            let o = send(url, keys.signer(signer), payload_type, &inner).await;
            assert_eq!(o.status, 200, "{url} {payload_type}: {:?}", o.payload);
        }
        let mut spec = colony::FunctionSpec::new("f", colony, "w");
        if maxwaittime {
            spec.max_wait_time = 1;
        } else {
            spec.max_exec_time = 1;
            spec.max_retries = 0;
        }
        let submitted = send(
            url,
            keys.signer("user"),
            "submitfuncspecmsg",
            &serde_json::json!({ "spec": spec }),
        )
        .await;
        let pid = submitted.payload["processid"]
            .as_str()
            .expect("process id")
            .to_owned();
        if !maxwaittime {
            let assign = serde_json::json!({ "colonyname": colony, "timeout": 5, "availablecpu": "", "availablemem": "" });
            let o = send(url, keys.signer("exec"), "assignprocessmsg", &assign).await;
            assert_eq!(o.status, 200, "{url} assign: {:?}", o.payload);
        }
        let failed = maestro_testkit::until(
            format!("{url}: the process to fail"),
            maestro_testkit::GUARD,
            async || {
                let o = send(
                    url,
                    keys.signer("user"),
                    "getprocessmsg",
                    &serde_json::json!({ "processid": pid }),
                )
                .await;
                // Upstream marks the process failed, then stores its errors in a second
                // statement: wait for both.
                let done = o.payload["state"] == 3
                    && o.payload["errors"]
                        .as_array()
                        .is_some_and(|e| !e.is_empty());
                Ok(done.then_some(o.payload))
            },
        )
        .await
        .expect("the process fails by its deadline");
        errors.push(failed["errors"].clone());
    }
    shutdown.cancel();
    embedded.stopped().await;
    assert_eq!(errors[0], errors[1], "failure reasons: real, embedded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_failures_have_upstreams_reasons() {
    waiting_process_fails_alike(true).await;
    waiting_process_fails_alike(false).await;
}
