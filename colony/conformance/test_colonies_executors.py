"""Colonies, executors and users: who may do what, and the shapes of the replies."""

import pytest
from pycolonies import ColoniesConnectionError

from conftest import expect_status, new_key, raw_rpc


def test_health_and_unsigned_version(server):
    reply = raw_rpc(server, {"msgtype": "versionmsg"}, None)
    assert not reply.error
    assert isinstance(reply.payload["buildversion"], str)


def test_server_owner_adds_and_lists_colonies(server, colony):
    colonies = colony.client.list_colonies(server.prvkey)
    assert {"colonyid": colony.colony_id, "name": colony.name} in colonies
    _, uprv, _ = colony.add_user()
    got = colony.client.get_colony(colony.name, uprv)
    assert got == {"colonyid": colony.colony_id, "name": colony.name}
    # As upstream: the colony owner is not a member.
    reply = expect_status(server, {"msgtype": "getcolonymsg", "colonyname": colony.name}, colony.prvkey, 403)
    assert f"not a member of Colony with name <{colony.name}>" in reply


def test_only_server_owner_adds_colonies(server, colony):
    _, cid = new_key()
    msg = {"msgtype": "addcolonymsg", "colony": {"colonyid": cid, "name": "intruder"}}
    expect_status(server, msg, colony.prvkey, 403)
    with pytest.raises(ColoniesConnectionError):
        colony.client.add_colony({"colonyid": cid, "name": "intruder"}, colony.prvkey)
    expect_status(server, {"msgtype": "getcoloniesmsg"}, colony.prvkey, 403)


def test_pending_executor_cannot_assign_until_approved(server, colony):
    name, prv, eid = colony.add_executor(approve=False)
    _, uprv, _ = colony.add_user()
    executors = colony.client.list_executors(colony.name, uprv)
    mine = [e for e in executors if e["executorname"] == name]
    assert len(mine) == 1 and mine[0]["state"] == 0 and mine[0]["executorid"] == eid

    msg = {"msgtype": "assignprocessmsg", "colonyname": colony.name, "timeout": -1}
    expect_status(server, msg, prv, 403)
    with pytest.raises(ColoniesConnectionError):
        colony.client.assign(colony.name, -1, prv)

    colony.client.approve_executor(colony.name, name, colony.prvkey)
    assert colony.client.get_executor(colony.name, name, uprv)["state"] == 1
    # Approved: nothing is queued, so a single try is 404, not 403.
    expect_status(server, msg, prv, 404)


def test_rejected_and_removed_executors_lose_access(server, colony):
    name, prv, _ = colony.add_executor()
    _, uprv, _ = colony.add_user()
    colony.client.reject_executor(colony.name, name, colony.prvkey)
    assert colony.client.get_executor(colony.name, name, uprv)["state"] == 2
    msg = {"msgtype": "assignprocessmsg", "colonyname": colony.name, "timeout": -1}
    expect_status(server, msg, prv, 403)

    other, other_prv, _ = colony.add_executor()
    colony.client.remove_executor(colony.name, other, colony.prvkey)
    # As upstream: a removed executor stays listed, unregistered (state 3).
    states = {e["executorname"]: e["state"] for e in colony.client.list_executors(colony.name, uprv)}
    assert states[other] == 3
    expect_status(server, msg, other_prv, 403)
    get = {"msgtype": "getexecutormsg", "colonyname": colony.name, "executorname": "ghost"}
    expect_status(server, get, uprv, 500)


def test_only_colony_owner_manages_executors(server, colony):
    name, prv, _ = colony.add_executor()
    _, stranger = new_key()
    add = {
        "msgtype": "addexecutormsg",
        "executor": {
            "executorname": "sneaky",
            "executorid": stranger,
            "colonyname": colony.name,
            "executortype": "worker",
        },
    }
    expect_status(server, add, prv, 403)
    approve = {"msgtype": "approveexecutormsg", "colonyname": colony.name, "executorname": name}
    expect_status(server, approve, prv, 403)
    expect_status(server, approve, server.prvkey, 403)
    remove = {"msgtype": "removeexecutormsg", "colonyname": colony.name, "executorname": name}
    expect_status(server, remove, prv, 403)


def test_executor_reply_shape(colony):
    name, _, eid = colony.add_executor(executor_type="shape", location="north")
    _, uprv, _ = colony.add_user()
    e = colony.client.get_executor(colony.name, name, uprv)
    for f in [
        "executorid",
        "executortype",
        "executorname",
        "colonyname",
        "state",
        "requirefuncreg",
        "commissiontime",
        "lastheardfromtime",
        "locationname",
        "capabilities",
        "allocations",
    ]:
        assert f in e, f"executor reply lacks {f}: {e}"
    assert e["executorid"] == eid and e["locationname"] == "north"


def test_users_are_added_listed_and_removed_by_colony_owner(server, colony):
    name, prv, uid = colony.add_user()
    users = colony.client.get_users(colony.name, prv)
    assert any(u["userid"] == uid and u["name"] == name for u in users)
    _, other = new_key()
    msg = {
        "msgtype": "addusermsg",
        "user": {"colonyname": colony.name, "userid": other, "name": "x", "email": "", "phone": ""},
    }
    expect_status(server, msg, prv, 403)
    colony.client.remove_user(colony.name, name, colony.prvkey)
    expect_status(server, {"msgtype": "getusersmsg", "colonyname": colony.name}, prv, 403)


def test_unknown_key_is_rejected(server, colony):
    stranger, _ = new_key()
    spec = {"conditions": {"colonyname": colony.name, "executortype": "worker"}}
    msgs = [
        {"msgtype": "addcolonymsg", "colony": {"colonyid": "x", "name": "y"}},
        {"msgtype": "getcolonymsg", "colonyname": colony.name},
        {"msgtype": "getexecutorsmsg", "colonyname": colony.name},
        {"msgtype": "submitfuncspecmsg", "spec": {"funcname": "f", **spec}},
        {"msgtype": "assignprocessmsg", "colonyname": colony.name, "timeout": -1},
        {"msgtype": "getprocessesmsg", "colonyname": colony.name, "count": 10, "state": 0},
        {"msgtype": "getblueprintsmsg", "namespace": colony.name},
    ]
    for msg in msgs:
        expect_status(server, msg, stranger, 403)
    # As upstream, logs of a process that does not exist are a 500 before any membership check.
    logs = {"msgtype": "getlogsmsg", "colonyname": colony.name, "processid": "", "count": 10}
    expect_status(server, logs, stranger, 500)


def test_bad_signature_and_msgtype_mismatch(server, colony):
    import base64
    import json

    import requests

    payload = base64.b64encode(
        json.dumps({"msgtype": "getcolonymsg", "colonyname": colony.name}).encode()
    ).decode()
    body = {"payloadtype": "getcolonymsg", "payload": payload, "signature": "00" * 65}
    r = requests.post(server.api_url, data=json.dumps(body), timeout=10)
    assert r.status_code in (400, 403) and r.json()["error"] is True

    msg = {"msgtype": "getcolonymsg", "colonyname": colony.name}
    _, uprv, _ = colony.add_user()
    reply = raw_rpc(server, msg, uprv)
    assert not reply.error
    from conftest import CRYPTO

    body = {"payloadtype": "getcoloniesmsg", "payload": payload}
    body["signature"] = CRYPTO.sign(payload, colony.prvkey)
    r = requests.post(server.api_url, data=json.dumps(body), timeout=10)
    assert r.status_code == 400 and r.json()["error"] is True
