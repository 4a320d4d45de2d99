//! The request sequence both servers get: every call the project's client makes and the calls
//! pycolonies exposes, valid and invalid (wrong signer, non-member, unknown colony, bad names).
//! Strings may hold `{var}` placeholders filled from earlier replies (`save`).

use colony::model::{Blueprint, BlueprintDefinition, Colony, Executor, FunctionSpec, User};
use serde_json::{Value, json};

/// Colony A (owner `owner`) and colony B (owner `owner_b`).
pub const A: &str = "diff-a";
pub const B: &str = "diff-b";

/// One request, who signs it, and what to keep from the reply.
pub struct Step {
    /// Unique label, used in reports and in the list of deliberate differences.
    pub label: &'static str,
    /// Key name (see `Keys`) or `garbage` for an unrecoverable signature.
    pub signer: &'static str,
    /// The payload type.
    pub payload_type: &'static str,
    /// The inner message (without `msgtype`).
    pub inner: Value,
    /// Keep the reply value at this JSON pointer under this variable name.
    pub save: Option<(&'static str, &'static str)>,
}

fn step(
    label: &'static str,
    signer: &'static str,
    payload_type: &'static str,
    inner: Value,
) -> Step {
    Step {
        label,
        signer,
        payload_type,
        inner,
        save: None,
    }
}

fn saving(mut s: Step, var: &'static str, pointer: &'static str) -> Step {
    s.save = Some((var, pointer));
    s
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("models serialize")
}

/// Ids of the keys the steps sign with, by name (filled in by the runner).
pub struct Ids<'a> {
    pub owner: &'a str,
    pub owner_b: &'a str,
    pub exec: &'a str,
    pub pending: &'a str,
    pub user: &'a str,
    pub user_b: &'a str,
}

fn colony(name: &str, id: &str) -> Value {
    json!({ "colony": to_json(&Colony { colony_id: id.into(), name: name.into() }) })
}

fn executor(id: &str, name: &str, colony: &str) -> Value {
    let mut e = Executor::new(id, "diff-worker", name, colony);
    e.location_name = "site".into();
    json!({ "executor": to_json(&e) })
}

fn user(id: &str, name: &str, colony: &str) -> Value {
    json!({ "user": to_json(&User {
        colony_name: colony.into(), user_id: id.into(), name: name.into(),
        email: format!("{name}@example.org"), phone: String::new(),
    }) })
}

fn spec(colony: &str) -> Value {
    json!({ "spec": to_json(&FunctionSpec::new("work", colony, "diff-worker")) })
}

fn pid(var: &str) -> Value {
    json!({ "processid": format!("{{{var}}}") })
}

fn definition() -> Value {
    let d = BlueprintDefinition::new(
        "widgets.example.io",
        A,
        "example.io",
        "Widget",
        "diff-worker",
        "reconcile",
    );
    json!({ "blueprintdefinition": to_json(&d) })
}

fn blueprint(replicas: i64) -> Value {
    let mut b = Blueprint::new("Widget", "w1", A, json!({ "replicas": replicas }));
    b.metadata.location_name = "site".into();
    json!({ "blueprint": to_json(&b) })
}

fn assign(colony: &str) -> Value {
    json!({ "colonyname": colony, "timeout": 1, "availablecpu": "", "availablemem": "" })
}

fn processes(colony: &str, state: i32, count: i64) -> Value {
    json!({ "colonyname": colony, "count": count, "state": state, "executortype": "", "label": "", "initiator": "" })
}

fn logs(count: i64) -> Value {
    json!({ "colonyname": A, "processid": "{p1}", "executorname": "", "count": count, "since": 0, "latest": false })
}

/// The whole sequence.
pub fn steps(ids: &Ids<'_>) -> Vec<Step> {
    let cn = |c: &str| json!({ "colonyname": c });
    let ex = |c: &str, n: &str| json!({ "colonyname": c, "executorname": n });
    vec![
        // ---- colonies
        step(
            "addcolony by a stranger",
            "stranger",
            "addcolonymsg",
            colony(A, ids.owner),
        ),
        step(
            "addcolony A",
            "server",
            "addcolonymsg",
            colony(A, ids.owner),
        ),
        step(
            "addcolony B",
            "server",
            "addcolonymsg",
            colony(B, ids.owner_b),
        ),
        step(
            "addcolony duplicate name",
            "server",
            "addcolonymsg",
            colony(A, ids.owner_b),
        ),
        step(
            "addcolony short id",
            "server",
            "addcolonymsg",
            colony("diff-c", "abc"),
        ),
        step(
            "getcolonies by server owner",
            "server",
            "getcoloniesmsg",
            json!({}),
        ),
        step(
            "getcolonies by colony owner",
            "owner",
            "getcoloniesmsg",
            json!({}),
        ),
        step("getcolony by colony owner", "owner", "getcolonymsg", cn(A)),
        step("getcolony by a stranger", "stranger", "getcolonymsg", cn(A)),
        step(
            "getcolony unknown colony",
            "stranger",
            "getcolonymsg",
            cn("nowhere"),
        ),
        step(
            "getcolony garbage signature",
            "garbage",
            "getcolonymsg",
            cn(A),
        ),
        // ---- executors
        step(
            "addexecutor by a stranger",
            "stranger",
            "addexecutormsg",
            executor(ids.exec, "exec", A),
        ),
        step(
            "addexecutor by another colony's owner",
            "owner_b",
            "addexecutormsg",
            executor(ids.exec, "exec", A),
        ),
        step(
            "addexecutor unknown colony",
            "owner",
            "addexecutormsg",
            executor(ids.exec, "exec", "nowhere"),
        ),
        step(
            "addexecutor exec",
            "owner",
            "addexecutormsg",
            executor(ids.exec, "exec", A),
        ),
        step(
            "addexecutor pending",
            "owner",
            "addexecutormsg",
            executor(ids.pending, "pending", A),
        ),
        step(
            "addexecutor duplicate name",
            "owner",
            "addexecutormsg",
            executor(ids.user, "exec", A),
        ),
        step(
            "getexecutors by colony owner",
            "owner",
            "getexecutorsmsg",
            cn(A),
        ),
        step(
            "getexecutors by pending executor",
            "pending",
            "getexecutorsmsg",
            cn(A),
        ),
        step(
            "getexecutors by a stranger",
            "stranger",
            "getexecutorsmsg",
            cn(A),
        ),
        step(
            "getexecutors unknown colony",
            "stranger",
            "getexecutorsmsg",
            cn("nowhere"),
        ),
        step(
            "approveexecutor by an executor",
            "pending",
            "approveexecutormsg",
            ex(A, "exec"),
        ),
        step(
            "approveexecutor unknown executor",
            "owner",
            "approveexecutormsg",
            ex(A, "ghost"),
        ),
        step(
            "approveexecutor exec",
            "owner",
            "approveexecutormsg",
            ex(A, "exec"),
        ),
        step(
            "getexecutor by colony owner",
            "owner",
            "getexecutormsg",
            ex(A, "exec"),
        ),
        step(
            "getexecutor by approved executor",
            "exec",
            "getexecutormsg",
            ex(A, "exec"),
        ),
        step(
            "getexecutor by pending executor",
            "pending",
            "getexecutormsg",
            ex(A, "exec"),
        ),
        step(
            "getexecutor unknown executor",
            "exec",
            "getexecutormsg",
            ex(A, "ghost"),
        ),
        // ---- users
        step(
            "adduser by a stranger",
            "stranger",
            "addusermsg",
            user(ids.user, "alice", A),
        ),
        step(
            "adduser unknown colony",
            "owner",
            "addusermsg",
            user(ids.user, "alice", "nowhere"),
        ),
        step(
            "adduser alice",
            "owner",
            "addusermsg",
            user(ids.user, "alice", A),
        ),
        step(
            "adduser duplicate name",
            "owner",
            "addusermsg",
            user(ids.user_b, "alice", A),
        ),
        step(
            "adduser bob in B",
            "owner_b",
            "addusermsg",
            user(ids.user_b, "bob", B),
        ),
        step("getusers by colony owner", "owner", "getusersmsg", cn(A)),
        step("getusers by user", "user", "getusersmsg", cn(A)),
        step(
            "getusers by another colony's user",
            "user_b",
            "getusersmsg",
            cn(A),
        ),
        step(
            "getusers by pending executor",
            "pending",
            "getusersmsg",
            cn(A),
        ),
        step("getcolony by user", "user", "getcolonymsg", cn(A)),
        step(
            "getcolony by another colony's user",
            "user_b",
            "getcolonymsg",
            cn(A),
        ),
        step("getexecutors by user", "user", "getexecutorsmsg", cn(A)),
        // ---- processes
        step(
            "submit by colony owner",
            "owner",
            "submitfuncspecmsg",
            spec(A),
        ),
        step(
            "submit by another colony's user",
            "user_b",
            "submitfuncspecmsg",
            spec(A),
        ),
        step(
            "submit unknown colony",
            "user",
            "submitfuncspecmsg",
            spec("nowhere"),
        ),
        saving(
            step("submit p1", "user", "submitfuncspecmsg", spec(A)),
            "p1",
            "/processid",
        ),
        step("getprocess by user", "user", "getprocessmsg", pid("p1")),
        step(
            "getprocess by colony owner",
            "owner",
            "getprocessmsg",
            pid("p1"),
        ),
        step(
            "getprocess by another colony's user",
            "user_b",
            "getprocessmsg",
            pid("p1"),
        ),
        step(
            "getprocess unknown id",
            "user",
            "getprocessmsg",
            json!({ "processid": "0".repeat(64) }),
        ),
        step(
            "getprocesses waiting",
            "exec",
            "getprocessesmsg",
            processes(A, 0, 10),
        ),
        step(
            "getprocesses count too large",
            "exec",
            "getprocessesmsg",
            processes(A, 0, 101),
        ),
        step(
            "getprocesses by colony owner",
            "owner",
            "getprocessesmsg",
            processes(A, 0, 10),
        ),
        step(
            "getprocesses unknown initiator",
            "exec",
            "getprocessesmsg",
            json!({ "colonyname": A, "count": 10, "state": 0, "executortype": "", "label": "", "initiator": "nobody" }),
        ),
        step(
            "getprocesses by initiator",
            "exec",
            "getprocessesmsg",
            json!({ "colonyname": A, "count": 10, "state": 0, "executortype": "", "label": "", "initiator": "alice" }),
        ),
        step(
            "getprocesses invalid state",
            "exec",
            "getprocessesmsg",
            processes(A, 7, 10),
        ),
        step(
            "assign timeout zero",
            "exec",
            "assignprocessmsg",
            json!({ "colonyname": A, "timeout": 0, "availablecpu": "", "availablemem": "" }),
        ),
        step("assign by user", "user", "assignprocessmsg", assign(A)),
        step(
            "assign by pending executor",
            "pending",
            "assignprocessmsg",
            assign(A),
        ),
        step("assign p1", "exec", "assignprocessmsg", assign(A)),
        step("assign nothing left", "exec", "assignprocessmsg", assign(A)),
        step(
            "addlog by user",
            "user",
            "addlogmsg",
            json!({ "processid": "{p1}", "message": "hi" }),
        ),
        step(
            "addlog by assigned executor",
            "exec",
            "addlogmsg",
            json!({ "processid": "{p1}", "message": "hello" }),
        ),
        step("getlogs by user", "user", "getlogsmsg", logs(10)),
        step("getlogs count too large", "user", "getlogsmsg", logs(501)),
        step(
            "setoutput by user",
            "user",
            "setoutputmsg",
            json!({ "processid": "{p1}", "out": ["x"] }),
        ),
        step(
            "setoutput by assigned executor",
            "exec",
            "setoutputmsg",
            json!({ "processid": "{p1}", "out": ["x"] }),
        ),
        step(
            "closesuccessful by user",
            "user",
            "closesuccessfulmsg",
            json!({ "processid": "{p1}", "out": [] }),
        ),
        step(
            "closesuccessful by assigned executor",
            "exec",
            "closesuccessfulmsg",
            json!({ "processid": "{p1}", "out": ["done"] }),
        ),
        step(
            "closesuccessful twice",
            "exec",
            "closesuccessfulmsg",
            json!({ "processid": "{p1}", "out": [] }),
        ),
        step("getprocess successful", "user", "getprocessmsg", pid("p1")),
        step(
            "getprocesses successful",
            "user",
            "getprocessesmsg",
            processes(A, 2, 10),
        ),
        saving(
            step("submit p2", "user", "submitfuncspecmsg", spec(A)),
            "p2",
            "/processid",
        ),
        step(
            "cancel by another colony's user",
            "user_b",
            "cancelprocessmsg",
            pid("p2"),
        ),
        step("cancel p2", "user", "cancelprocessmsg", pid("p2")),
        step("cancel twice", "user", "cancelprocessmsg", pid("p2")),
        saving(
            step("submit p3", "user", "submitfuncspecmsg", spec(A)),
            "p3",
            "/processid",
        ),
        step("assign p3", "exec", "assignprocessmsg", assign(A)),
        step(
            "closefailed p3",
            "exec",
            "closefailedmsg",
            json!({ "processid": "{p3}", "errors": ["boom"] }),
        ),
        step("getprocess failed", "user", "getprocessmsg", pid("p3")),
        step(
            "removeprocess by colony owner",
            "owner",
            "removeprocessmsg",
            pid("p1"),
        ),
        step(
            "removeprocess by another colony's user",
            "user_b",
            "removeprocessmsg",
            pid("p1"),
        ),
        step("removeprocess p1", "user", "removeprocessmsg", pid("p1")),
        step("getprocess removed", "user", "getprocessmsg", pid("p1")),
        step(
            "removeprocess unknown",
            "user",
            "removeprocessmsg",
            json!({ "processid": "0".repeat(64) }),
        ),
        // ---- blueprints
        step(
            "addblueprintdefinition by user",
            "user",
            "addblueprintdefinitionmsg",
            definition(),
        ),
        step(
            "addblueprintdefinition",
            "owner",
            "addblueprintdefinitionmsg",
            definition(),
        ),
        step(
            "addblueprintdefinition duplicate",
            "owner",
            "addblueprintdefinitionmsg",
            definition(),
        ),
        step(
            "getblueprintdefinitions by user",
            "user",
            "getblueprintdefinitionsmsg",
            cn(A),
        ),
        step(
            "getblueprintdefinitions by colony owner",
            "owner",
            "getblueprintdefinitionsmsg",
            cn(A),
        ),
        step(
            "getblueprintdefinitions by a stranger",
            "stranger",
            "getblueprintdefinitionsmsg",
            cn(A),
        ),
        step(
            "getblueprintdefinition by user",
            "user",
            "getblueprintdefinitionmsg",
            json!({ "colonyname": A, "name": "widgets.example.io" }),
        ),
        step(
            "getblueprintdefinition unknown",
            "user",
            "getblueprintdefinitionmsg",
            json!({ "colonyname": A, "name": "nope" }),
        ),
        saving(
            step(
                "addblueprint by user",
                "user",
                "addblueprintmsg",
                blueprint(1),
            ),
            "bp",
            "/blueprintid",
        ),
        step(
            "addblueprint duplicate",
            "user",
            "addblueprintmsg",
            blueprint(1),
        ),
        step(
            "addblueprint by another colony's user",
            "user_b",
            "addblueprintmsg",
            blueprint(1),
        ),
        step(
            "getblueprint by user",
            "user",
            "getblueprintmsg",
            json!({ "namespace": A, "name": "w1" }),
        ),
        step(
            "getblueprint by colony owner",
            "owner",
            "getblueprintmsg",
            json!({ "namespace": A, "name": "w1" }),
        ),
        step(
            "getblueprint unknown",
            "user",
            "getblueprintmsg",
            json!({ "namespace": A, "name": "nope" }),
        ),
        step(
            "getblueprints by user",
            "user",
            "getblueprintsmsg",
            json!({ "namespace": A, "kind": "Widget", "locationname": "" }),
        ),
        step(
            "updateblueprintstatus by executor",
            "exec",
            "updateblueprintstatusmsg",
            json!({ "colonyname": A, "blueprintname": "w1", "status": { "ready": true } }),
        ),
        step(
            "updateblueprintstatus by a stranger",
            "stranger",
            "updateblueprintstatusmsg",
            json!({ "colonyname": A, "blueprintname": "w1", "status": {} }),
        ),
        step("updateblueprint new spec", "user", "updateblueprintmsg", {
            let mut b = blueprint(2);
            b["forcegeneration"] = json!(false);
            b
        }),
        step(
            "reconcileblueprint",
            "user",
            "reconcileblueprintmsg",
            json!({ "namespace": A, "name": "w1", "force": false }),
        ),
        step(
            "getblueprinthistory",
            "user",
            "getblueprinthistorymsg",
            json!({ "blueprintid": "{bp}", "limit": 10 }),
        ),
        step(
            "removeblueprint by user",
            "user",
            "removeblueprintmsg",
            json!({ "namespace": A, "name": "w1" }),
        ),
        step(
            "removeblueprint twice",
            "user",
            "removeblueprintmsg",
            json!({ "namespace": A, "name": "w1" }),
        ),
        step(
            "addblueprint by colony owner",
            "owner",
            "addblueprintmsg",
            {
                let mut b = blueprint(3);
                b["blueprint"]["metadata"]["name"] = json!("w2");
                b
            },
        ),
        step(
            "reconcileblueprint by colony owner",
            "owner",
            "reconcileblueprintmsg",
            json!({ "namespace": A, "name": "w2", "force": false }),
        ),
        step(
            "getprocesses after blueprint calls",
            "exec",
            "getprocessesmsg",
            processes(A, 0, 100),
        ),
        step(
            "removeblueprint by colony owner",
            "owner",
            "removeblueprintmsg",
            json!({ "namespace": A, "name": "w2" }),
        ),
        step(
            "removeblueprintdefinition by user",
            "user",
            "removeblueprintdefinitionmsg",
            json!({ "namespace": A, "name": "widgets.example.io" }),
        ),
        step(
            "removeblueprintdefinition",
            "owner",
            "removeblueprintdefinitionmsg",
            json!({ "namespace": A, "name": "widgets.example.io" }),
        ),
        // ---- executor and user removal
        step(
            "removeexecutor by an executor",
            "pending",
            "removeexecutormsg",
            ex(A, "exec"),
        ),
        step(
            "removeexecutor unknown",
            "owner",
            "removeexecutormsg",
            ex(A, "ghost"),
        ),
        step(
            "removeexecutor exec",
            "owner",
            "removeexecutormsg",
            ex(A, "exec"),
        ),
        step(
            "removeexecutor twice",
            "owner",
            "removeexecutormsg",
            ex(A, "exec"),
        ),
        step(
            "getexecutors after removal",
            "user",
            "getexecutorsmsg",
            cn(A),
        ),
        step(
            "submit by removed executor",
            "exec",
            "submitfuncspecmsg",
            spec(A),
        ),
        step(
            "addexecutor removed name again",
            "owner",
            "addexecutormsg",
            executor(ids.exec, "exec", A),
        ),
        step(
            "rejectexecutor pending",
            "owner",
            "rejectexecutormsg",
            ex(A, "pending"),
        ),
        step(
            "removeuser by another colony's owner",
            "owner_b",
            "removeusermsg",
            json!({ "colonyname": A, "name": "alice" }),
        ),
        step(
            "removeuser unknown",
            "owner",
            "removeusermsg",
            json!({ "colonyname": A, "name": "ghost" }),
        ),
        step(
            "removeuser alice",
            "owner",
            "removeusermsg",
            json!({ "colonyname": A, "name": "alice" }),
        ),
        step("getcolony by removed user", "user", "getcolonymsg", cn(A)),
        // ---- bad names (last: upstream stores them, which would change later lists)
        step(
            "addcolony name with NUL",
            "server",
            "addcolonymsg",
            colony("diff-a\u{0}x", ids.owner),
        ),
        step(
            "addcolony name with newline",
            "server",
            "addcolonymsg",
            colony("diff\nc", ids.owner),
        ),
        step(
            "addexecutor name with newline",
            "owner",
            "addexecutormsg",
            executor(ids.user_b, "bad\nname", A),
        ),
        step(
            "adduser name with NUL",
            "owner",
            "addusermsg",
            user(ids.user_b, "bad\u{0}name", A),
        ),
        // ---- ids used twice (last: upstream keeps both records, which would change later lists)
        step(
            "addexecutor duplicate id",
            "owner",
            "addexecutormsg",
            executor(ids.pending, "pending-2", A),
        ),
        step(
            "adduser duplicate id",
            "owner_b",
            "addusermsg",
            user(ids.user_b, "bob-2", B),
        ),
        // ---- colony removal
        step(
            "removecolony by its owner",
            "owner_b",
            "removecolonymsg",
            cn(B),
        ),
        step("removecolony B", "server", "removecolonymsg", cn(B)),
        step("removecolony twice", "server", "removecolonymsg", cn(B)),
        // ---- pycolonies calls outside the project's scope (last: some change state)
        step(
            "pycolonies-only getcolonystatsmsg",
            "user_b",
            "getcolonystatsmsg",
            cn(A),
        ),
        step(
            "pycolonies-only getfunctionsmsg",
            "pending",
            "getfunctionsmsg",
            json!({ "colonyname": A, "executorname": "pending" }),
        ),
        step(
            "pycolonies-only getcronsmsg",
            "pending",
            "getcronsmsg",
            json!({ "colonyname": A, "count": 10 }),
        ),
        step(
            "pycolonies-only getgeneratorsmsg",
            "pending",
            "getgeneratorsmsg",
            json!({ "colonyname": A, "count": 10 }),
        ),
        step(
            "pycolonies-only getprocessgraphsmsg",
            "pending",
            "getprocessgraphsmsg",
            json!({ "colonyname": A, "count": 10, "state": 0 }),
        ),
        step(
            "pycolonies-only getfilelabelsmsg",
            "pending",
            "getfilelabelsmsg",
            json!({ "colonyname": A, "name": "", "exact": false }),
        ),
        step(
            "pycolonies-only getsnapshotsmsg",
            "pending",
            "getsnapshotsmsg",
            cn(A),
        ),
        step(
            "pycolonies-only getattributemsg",
            "pending",
            "getattributemsg",
            json!({ "attributeid": "0".repeat(64) }),
        ),
        step(
            "pycolonies-only removeallprocessesmsg",
            "owner",
            "removeallprocessesmsg",
            json!({ "colonyname": A, "state": -1 }),
        ),
    ]
}
