//! Executors, submission, long-poll assignment, closing, logs and cancellation.

mod common;

use colony::{Executor, FunctionSpec, PrivateKey, ProcessState, Retention};
use common::{COLONY, Harness, guard};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn full_flow_with_long_poll_woken_by_submit() {
    let h = Harness::start().await;
    h.add_colony().await;
    let exec = h.approved_executor("w1", "worker", "").await;
    let user = h.user("alice").await;

    // The executor long-polls before anything is submitted.
    let client = h.client.clone();
    let exec2 = exec.clone();
    let waiting = tokio::spawn(async move { client.assign(&exec2, COLONY, 30).await });

    let mut spec = FunctionSpec::new("echo", COLONY, "worker");
    spec.kwargs.insert("msg".into(), json!("hi"));
    let submitted = guard(h.client.submit(&user, &spec)).await.unwrap();
    assert_eq!(submitted.state, ProcessState::Waiting.as_i32());
    assert_eq!(submitted.initiator_name, "alice");

    let assigned = guard(waiting).await.unwrap().unwrap().expect("a process");
    assert_eq!(assigned.process_id, submitted.process_id);
    assert_eq!(assigned.state, ProcessState::Running.as_i32());
    assert_eq!(assigned.assigned_executor_id, exec.id());
    assert_eq!(assigned.spec.kwarg_str("msg"), Some("hi"));

    // Only the assigned executor may log and close.
    let err = guard(
        h.client
            .close_successful(&user, &assigned.process_id, vec![]),
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), Some(403));
    guard(h.client.add_log(&exec, &assigned.process_id, "working"))
        .await
        .unwrap();
    guard(h.client.add_log(&exec, &assigned.process_id, "done"))
        .await
        .unwrap();
    guard(
        h.client
            .set_output(&exec, &assigned.process_id, vec!["partial".into()]),
    )
    .await
    .unwrap();
    guard(
        h.client
            .close_successful(&exec, &assigned.process_id, vec!["ok".into()]),
    )
    .await
    .unwrap();

    let p = guard(h.client.get_process(&user, &assigned.process_id))
        .await
        .unwrap();
    assert_eq!(p.process_state(), Some(ProcessState::Success));
    assert_eq!(p.output, vec![json!("ok")]);
    let logs = guard(h.client.get_logs(&user, COLONY, &p.process_id, 100, 0))
        .await
        .unwrap();
    let messages: Vec<_> = logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(messages, ["working", "done"]);
    assert_eq!(logs[0].executor_name, "w1");
    let since = guard(
        h.client
            .get_logs(&user, COLONY, &p.process_id, 100, logs[0].timestamp),
    )
    .await
    .unwrap();
    assert_eq!(since.len(), 1);
    let done = guard(
        h.client
            .get_processes(&user, COLONY, ProcessState::Success, 10),
    )
    .await
    .unwrap();
    assert_eq!(done.len(), 1);

    // Closing twice is refused.
    let err = guard(
        h.client
            .close_failed(&exec, &p.process_id, vec!["x".into()]),
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), Some(400));
}

#[tokio::test]
async fn assign_timeouts_and_unapproved_executor() {
    let h = Harness::start().await;
    h.add_colony().await;
    let exec = h.approved_executor("w1", "worker", "").await;
    // One try with nothing queued: None (404).
    assert!(
        guard(h.client.assign(&exec, COLONY, -1))
            .await
            .unwrap()
            .is_none()
    );
    // Long-poll that expires: None.
    assert!(
        guard(h.client.assign(&exec, COLONY, 1))
            .await
            .unwrap()
            .is_none()
    );
    // Zero timeout is a bad request.
    let err = guard(h.client.assign(&exec, COLONY, 0)).await.unwrap_err();
    assert_eq!(err.status(), Some(400));

    // A pending (unapproved) or rejected executor may not assign.
    let pending = PrivateKey::generate();
    let e = Executor::new(&pending.id(), "worker", "w2", COLONY);
    guard(h.client.add_executor(&h.owner_key, &e))
        .await
        .unwrap();
    let err = guard(h.client.assign(&pending, COLONY, -1))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    guard(h.client.reject_executor(&h.owner_key, COLONY, "w2"))
        .await
        .unwrap();
    let err = guard(h.client.assign(&pending, COLONY, -1))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    // A removed executor loses access.
    guard(h.client.remove_executor(&h.owner_key, COLONY, "w1"))
        .await
        .unwrap();
    let err = guard(h.client.assign(&exec, COLONY, -1)).await.unwrap_err();
    assert_eq!(err.status(), Some(403));
}

#[tokio::test]
async fn matching_priority_location_and_names() {
    let h = Harness::start().await;
    h.add_colony().await;
    let north = h.approved_executor("north-1", "worker", "north").await;
    let south = h.approved_executor("south-1", "worker", "south").await;
    let other = h.approved_executor("other-1", "other", "").await;
    let user = h.user("bob").await;

    let mut low = FunctionSpec::new("low", COLONY, "worker");
    low.priority = -1;
    let plain = FunctionSpec::new("plain", COLONY, "worker");
    let mut high = FunctionSpec::new("high", COLONY, "worker");
    high.priority = 5;
    let mut at_south = FunctionSpec::new("south-only", COLONY, "worker");
    at_south.conditions.location_name = "south".into();
    at_south.priority = 100;
    let mut named = FunctionSpec::new("named", COLONY, "worker");
    named.conditions.executor_names = Some(vec!["south-1".into()]);
    named.priority = 100;
    for s in [&low, &plain, &high, &at_south, &named] {
        guard(h.client.submit(&user, s)).await.unwrap();
    }
    // Wrong executor type gets nothing.
    assert!(
        guard(h.client.assign(&other, COLONY, -1))
            .await
            .unwrap()
            .is_none()
    );
    // North never gets the south-only or south-named ones; priority then submission order.
    let mut order = Vec::new();
    while let Some(p) = guard(h.client.assign(&north, COLONY, -1)).await.unwrap() {
        order.push(p.spec.func_name);
    }
    assert_eq!(order, ["high", "plain", "low"]);
    let mut south_got = Vec::new();
    while let Some(p) = guard(h.client.assign(&south, COLONY, -1)).await.unwrap() {
        south_got.push(p.spec.func_name);
    }
    assert_eq!(south_got, ["south-only", "named"]);
}

#[tokio::test]
async fn cancel_removes_from_queue() {
    let h = Harness::start().await;
    h.add_colony().await;
    let exec = h.approved_executor("w1", "worker", "").await;
    let user = h.user("carol").await;
    let p = guard(
        h.client
            .submit(&user, &FunctionSpec::new("f", COLONY, "worker")),
    )
    .await
    .unwrap();
    guard(h.client.cancel_process(&user, &p.process_id))
        .await
        .unwrap();
    assert!(
        guard(h.client.assign(&exec, COLONY, -1))
            .await
            .unwrap()
            .is_none()
    );
    let p = guard(h.client.get_process(&user, &p.process_id))
        .await
        .unwrap();
    assert_eq!(p.process_state(), Some(ProcessState::Cancelled));
    let err = guard(h.client.get_process(&user, "missing"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
}

#[tokio::test]
async fn removing_an_executor_requeues_its_running_processes() {
    let h = Harness::start().await;
    h.add_colony().await;
    let w1 = h.approved_executor("w1", "worker", "").await;
    let w2 = h.approved_executor("w2", "worker", "").await;
    let user = h.user("dave").await;
    let mut spec = FunctionSpec::new("f", COLONY, "worker");
    spec.max_exec_time = 60;
    let p = guard(h.client.submit(&user, &spec)).await.unwrap();
    let taken = guard(h.client.assign(&w1, COLONY, -1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.process_id, p.process_id);
    let p2 = guard(h.client.submit(&user, &spec)).await.unwrap();
    let other = guard(h.client.assign(&w2, COLONY, -1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.process_id, p2.process_id);

    guard(h.client.remove_executor(&h.owner_key, COLONY, "w1"))
        .await
        .unwrap();

    let back = guard(h.client.get_process(&user, &p.process_id))
        .await
        .unwrap();
    assert_eq!(back.process_state(), Some(ProcessState::Waiting));
    assert!(!back.is_assigned);
    assert!(back.assigned_executor_id.is_empty());
    assert_eq!(back.retries, 0, "removal does not count as a retry");
    let still = guard(h.client.get_process(&user, &p2.process_id))
        .await
        .unwrap();
    assert_eq!(still.process_state(), Some(ProcessState::Running));
    assert_eq!(still.assigned_executor_id, w2.id());

    let again = guard(h.client.assign(&w2, COLONY, 5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.process_id, p.process_id);
    assert_eq!(again.assigned_executor_id, w2.id());
    assert_eq!(again.retries, 0);
}

#[tokio::test]
async fn a_restart_with_retention_removes_closed_processes_past_it_and_keeps_the_rest() {
    let mut h = Harness::start().await;
    h.add_colony().await;
    let exec = h.approved_executor("w1", "worker", "").await;
    let user = h.user("erin").await;
    let run = |name: &'static str| {
        let (client, user, exec) = (h.client.clone(), user.clone(), exec.clone());
        async move {
            let spec = FunctionSpec::new(name, COLONY, "worker");
            let p = guard(client.submit(&user, &spec)).await.unwrap();
            let taken = guard(client.assign(&exec, COLONY, -1))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(taken.process_id, p.process_id);
            guard(client.add_log(&exec, &p.process_id, "ran"))
                .await
                .unwrap();
            p.process_id
        }
    };
    let succeeded = run("ok").await;
    guard(h.client.close_successful(&exec, &succeeded, vec![]))
        .await
        .unwrap();
    let failed = run("bad").await;
    guard(h.client.close_failed(&exec, &failed, vec!["no".into()]))
        .await
        .unwrap();
    let running = run("long").await;
    let waiting = guard(
        h.client
            .submit(&user, &FunctionSpec::new("later", COLONY, "worker")),
    )
    .await
    .unwrap()
    .process_id;

    // Kept for good by default, as upstream: a restart removes nothing.
    h.restart().await;
    for id in [&succeeded, &failed, &running, &waiting] {
        guard(h.client.get_process(&user, id)).await.unwrap();
    }

    // Successes kept a millisecond, failures a day: the start sweeps before it serves.
    h.retention = Retention {
        successful: Some(Duration::from_millis(1)),
        unsuccessful: Some(Duration::from_secs(86_400)),
    };
    h.restart().await;
    let err = guard(h.client.get_process(&user, &succeeded))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    let f = guard(h.client.get_process(&user, &failed)).await.unwrap();
    assert_eq!(f.process_state(), Some(ProcessState::Failed));
    assert_eq!(
        guard(h.client.get_logs(&user, COLONY, &failed, 100, 0))
            .await
            .unwrap()
            .len(),
        1
    );
    let r = guard(h.client.get_process(&user, &running)).await.unwrap();
    assert_eq!(r.process_state(), Some(ProcessState::Running));
    guard(h.client.close_successful(&exec, &running, vec![]))
        .await
        .unwrap();
    let w = guard(h.client.assign(&exec, COLONY, -1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(w.process_id, waiting, "the waiting process is still queued");
}
