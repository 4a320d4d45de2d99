"""Processes: submit, assign (long-poll and single try), close, output, logs, exec deadlines.

Every Process reply is parsed by pycolonies' own pydantic `Process` model.
"""

import threading
import time

import pytest
from model import Process
from pycolonies import ColoniesConnectionError, func_spec

from conftest import expect_status, raw_rpc

WAITING, RUNNING, SUCCESS, FAILED = 0, 1, 2, 3


def spec_for(colony, executor_type="worker", func="echo", **kw):
    return func_spec(
        func=func,
        args=["a", 1],
        colonyname=colony.name,
        executortype=executor_type,
        kwargs=kw.pop("kwargs", {"greeting": "hello", "names": ["x", "y"]}),
        **kw,
    )


def test_submit_by_user_and_executor_parse_as_process(colony):
    uname, uprv, uid = colony.add_user()
    ename, eprv, eid = colony.add_executor()

    p = colony.client.submit_func_spec(spec_for(colony), uprv)
    assert isinstance(p, Process)
    assert p.state == WAITING and not p.isassigned
    assert p.initiatorid == uid and p.initiatorname == uname
    assert p.spec.funcname == "echo" and p.spec.args == ["a", 1]
    assert p.spec.kwargs == {"greeting": "hello", "names": ["x", "y"]}
    assert p.spec.conditions.colonyname == colony.name

    q = colony.client.submit_func_spec(spec_for(colony), eprv)
    assert q.initiatorid == eid and q.initiatorname == ename

    again = colony.client.get_process(p.processid, eprv)
    assert again.processid == p.processid and again.submissiontime == p.submissiontime

    waiting = colony.client.list_processes(colony.name, 10, WAITING, uprv)
    ids = {Process(**w).processid for w in waiting}
    assert {p.processid, q.processid} <= ids


def test_assign_single_try_returns_404_at_once(server, colony):
    _, prv, _ = colony.add_executor()
    start = time.monotonic()
    msg = {"msgtype": "assignprocessmsg", "colonyname": colony.name, "timeout": -1}
    expect_status(server, msg, prv, 404)
    assert time.monotonic() - start < 2.0
    with pytest.raises(ColoniesConnectionError):
        colony.client.assign(colony.name, -1, prv)


def test_assign_timeout_zero_is_rejected(server, colony):
    _, prv, _ = colony.add_executor()
    msg = {"msgtype": "assignprocessmsg", "colonyname": colony.name, "timeout": 0}
    expect_status(server, msg, prv, 400)


def test_assign_long_poll_times_out_with_404(server, colony):
    _, prv, _ = colony.add_executor()
    start = time.monotonic()
    msg = {"msgtype": "assignprocessmsg", "colonyname": colony.name, "timeout": 1}
    expect_status(server, msg, prv, 404)
    elapsed = time.monotonic() - start
    assert 0.9 <= elapsed < 5.0, elapsed


def test_assign_long_poll_wakes_on_submit(colony):
    _, eprv, eid = colony.add_executor(executor_type="poller")
    _, uprv, _ = colony.add_user()
    result = {}

    def poll():
        try:
            result["process"] = colony.client.assign(colony.name, 30, eprv)
        except Exception as e:  # reported by the main thread
            result["error"] = e
        result["returned"] = time.monotonic()

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    # Nothing is queued for this type, so the long poll must still be pending.
    t.join(timeout=0.5)
    assert t.is_alive(), f"assign returned with nothing queued: {result}"

    submitted_at = time.monotonic()
    p = colony.client.submit_func_spec(spec_for(colony, "poller"), uprv)
    t.join(timeout=10)
    assert not t.is_alive(), "assign did not wake on submit"
    assert "error" not in result, result
    woke_after = result["returned"] - submitted_at
    assert woke_after < 3.0, f"assign woke {woke_after:.2f}s after submit"
    got = result["process"]
    assert got.processid == p.processid
    assert got.state == RUNNING and got.isassigned and got.assignedexecutorid == eid


def test_two_long_polls_each_get_one_process(colony):
    _, aprv, aid = colony.add_executor(executor_type="pair")
    _, bprv, bid = colony.add_executor(executor_type="pair")
    _, uprv, _ = colony.add_user()
    results = {}

    def poll(key, prv):
        try:
            results[key] = colony.client.assign(colony.name, 30, prv)
        except Exception as e:  # reported by the main thread
            results[key] = e

    threads = [threading.Thread(target=poll, args=(k, prv), daemon=True)
               for k, prv in (("a", aprv), ("b", bprv))]
    for t in threads:
        t.start()
    threads[0].join(timeout=0.3)
    assert all(t.is_alive() for t in threads), results

    submitted = {colony.client.submit_func_spec(spec_for(colony, "pair"), uprv).processid
                 for _ in range(2)}
    for t in threads:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in threads), "a long poll missed a submission"
    assert all(isinstance(r, Process) for r in results.values()), results
    assert {r.processid for r in results.values()} == submitted
    assert {r.assignedexecutorid for r in results.values()} == {aid, bid}


def test_assign_matches_executor_type(server, colony):
    _, aprv, _ = colony.add_executor(executor_type="alpha")
    _, bprv, _ = colony.add_executor(executor_type="beta")
    p = colony.client.submit_func_spec(spec_for(colony, "beta"), bprv)
    msg = {"msgtype": "assignprocessmsg", "colonyname": colony.name, "timeout": -1}
    expect_status(server, msg, aprv, 404)
    assert colony.client.assign(colony.name, -1, bprv).processid == p.processid


def test_close_successful_only_by_assigned_executor(server, colony):
    _, eprv, _ = colony.add_executor(executor_type="closer")
    _, other_prv, _ = colony.add_executor(executor_type="closer")
    _, uprv, _ = colony.add_user()
    p = colony.client.submit_func_spec(spec_for(colony, "closer"), uprv)
    assigned = colony.client.assign(colony.name, -1, eprv)
    assert assigned.processid == p.processid

    close = {"msgtype": "closesuccessfulmsg", "processid": p.processid, "out": ["nope"]}
    expect_status(server, close, other_prv, 403)
    expect_status(server, close, uprv, 403)
    expect_status(server, close, colony.prvkey, 403)
    with pytest.raises(ColoniesConnectionError):
        colony.client.close(p.processid, ["nope"], other_prv)

    colony.client.set_output(p.processid, ["partial", 1], eprv)
    assert colony.client.get_process(p.processid, uprv).output == ["partial", 1]

    colony.client.close(p.processid, ["done", 42, 1.5], eprv)
    done = colony.client.get_process(p.processid, uprv)
    assert done.state == SUCCESS
    assert done.output == ["done", 42, 1.5]
    assert done.endtime >= done.starttime >= done.submissiontime
    # As upstream: closing a successful process as successful again is accepted; as failed is not.
    assert not raw_rpc(server, close, eprv).error
    fail = {"msgtype": "closefailedmsg", "processid": p.processid, "errors": ["late"]}
    reply = expect_status(server, fail, eprv, 400)
    assert "Tried to set successful process as failed" in reply

    successful = colony.client.list_processes(colony.name, 10, SUCCESS, uprv)
    assert p.processid in {Process(**s).processid for s in successful}


def test_close_failed_only_by_assigned_executor(server, colony):
    _, eprv, _ = colony.add_executor(executor_type="failer")
    _, other_prv, _ = colony.add_executor(executor_type="failer")
    _, uprv, _ = colony.add_user()
    p = colony.client.submit_func_spec(spec_for(colony, "failer"), uprv)
    colony.client.assign(colony.name, -1, eprv)

    fail = {"msgtype": "closefailedmsg", "processid": p.processid, "errors": ["x"]}
    expect_status(server, fail, other_prv, 403)
    expect_status(server, fail, uprv, 403)

    colony.client.fail(p.processid, ["boom", "again"], eprv)
    failed = colony.client.get_process(p.processid, uprv)
    assert failed.state == FAILED and failed.errors == ["boom", "again"]
    # An explicit failure is final: it is not re-queued.
    msg = {"msgtype": "assignprocessmsg", "colonyname": colony.name, "timeout": -1}
    expect_status(server, msg, eprv, 404)


def test_set_output_only_by_assigned_executor(server, colony):
    _, eprv, _ = colony.add_executor(executor_type="out")
    _, other_prv, _ = colony.add_executor(executor_type="out")
    p = colony.client.submit_func_spec(spec_for(colony, "out"), eprv)
    colony.client.assign(colony.name, -1, eprv)
    msg = {"msgtype": "setoutputmsg", "processid": p.processid, "out": ["x"]}
    expect_status(server, msg, other_prv, 403)
    colony.client.set_output(p.processid, ["ok"], eprv)
    assert colony.client.get_process(p.processid, other_prv).output == ["ok"]


def test_logs_by_process_since_and_count(server, colony):
    ename, eprv, _ = colony.add_executor(executor_type="logger")
    _, other_prv, _ = colony.add_executor(executor_type="logger")
    _, uprv, _ = colony.add_user()
    p = colony.client.submit_func_spec(spec_for(colony, "logger"), uprv)
    colony.client.assign(colony.name, -1, eprv)

    for i in range(5):
        colony.client.add_log(p.processid, f"line {i}\n", eprv)
    add = {"msgtype": "addlogmsg", "processid": p.processid, "message": "intruder"}
    expect_status(server, add, other_prv, 403)
    expect_status(server, add, uprv, 403)

    logs = colony.client.get_process_log(colony.name, p.processid, 100, 0, uprv)
    assert [entry["message"] for entry in logs] == [f"line {i}\n" for i in range(5)]
    for entry in logs:
        assert entry["processid"] == p.processid
        assert entry["colonyname"] == colony.name
        assert entry["executorname"] == ename
        assert isinstance(entry["timestamp"], int) and entry["timestamp"] > 10**18
    stamps = [entry["timestamp"] for entry in logs]
    assert stamps == sorted(stamps)

    since = colony.client.get_process_log(colony.name, p.processid, 100, stamps[1], uprv)
    assert [entry["message"] for entry in since] == [f"line {i}\n" for i in range(2, 5)]

    first_two = colony.client.get_process_log(colony.name, p.processid, 2, 0, uprv)
    assert [entry["message"] for entry in first_two] == ["line 0\n", "line 1\n"]

    by_executor = colony.client.get_executor_log(colony.name, ename, 100, 0, uprv)
    assert len(by_executor) == 5

    too_many = {
        "msgtype": "getlogsmsg",
        "colonyname": colony.name,
        "processid": p.processid,
        "count": 501,
        "since": 0,
    }
    # Upstream answers 403 here.
    expect_status(server, too_many, uprv, 403)


def test_maxexectime_requeues_with_retries(colony):
    _, eprv, _ = colony.add_executor(executor_type="slow")
    _, uprv, _ = colony.add_user()
    spec = spec_for(colony, "slow", maxexectime=1, maxretries=3)
    p = colony.client.submit_func_spec(spec, uprv)
    assigned = colony.client.assign(colony.name, -1, eprv)
    assert assigned.processid == p.processid and assigned.retries == 0
    assert assigned.execdeadline > assigned.starttime

    # Do not close it: the server must put it back in the queue after maxexectime.
    deadline = time.monotonic() + 15
    current = assigned
    while time.monotonic() < deadline:
        current = colony.client.get_process(p.processid, uprv)
        if current.state == WAITING:
            break
        time.sleep(0.2)
    assert current.state == WAITING, f"not re-queued: state {current.state}"
    assert current.retries == 1 and not current.isassigned and current.assignedexecutorid == ""

    again = colony.client.assign(colony.name, 5, eprv)
    assert again.processid == p.processid and again.retries == 1
    colony.client.close(p.processid, ["late but fine"], eprv)
    assert colony.client.get_process(p.processid, uprv).state == SUCCESS
