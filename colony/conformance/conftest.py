"""Conformance harness: the `colony-server` binary driven by the independent pycolonies client.

The server binary comes from COLONY_SERVER_BIN (scripts/conformance.sh builds it). One server
per test session, on a free 127.0.0.1 port, with a fresh data directory and a server key made by
pycolonies' own crypto. Every test gets its own colony, so tests do not see each other's
processes. The server is stopped by its pid when the session ends.
"""

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field

import pytest
import requests

# pycolonies ships top-level modules: `pycolonies`, `crypto`, `model`.
from crypto import Crypto
from pycolonies import Colonies

START_DEADLINE_S = 30.0
STOP_DEADLINE_S = 10.0

CRYPTO = Crypto()


def new_key():
    """A fresh private key and its ColonyOS id, both from pycolonies' crypto."""
    prv = CRYPTO.prvkey()
    return prv, CRYPTO.id(prv)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running colony-server and the server owner's key."""

    host: str
    port: int
    prvkey: str
    server_id: str
    process: subprocess.Popen
    log_path: str

    @property
    def api_url(self):
        return f"http://{self.host}:{self.port}/api"

    def client(self):
        return Colonies(self.host, self.port)


@dataclass
class RawReply:
    """A reply read without pycolonies, to see the HTTP status and the error envelope."""

    http_status: int
    envelope: dict
    payload: object

    @property
    def error(self):
        return self.envelope["error"]

    @property
    def status(self):
        """The status carried by an error payload (must equal the HTTP status)."""
        return self.payload["status"]


def raw_rpc(server, msg, prvkey):
    """Sends `msg` signed by pycolonies' crypto and returns the undecoded reply."""
    payload = base64.b64encode(json.dumps(msg).encode("utf-8")).decode("ascii")
    body = {"payloadtype": msg["msgtype"], "payload": payload}
    if prvkey is not None:
        body["signature"] = CRYPTO.sign(payload, prvkey)
    else:
        body["signature"] = ""
    r = requests.post(server.api_url, data=json.dumps(body), timeout=30)
    envelope = r.json()
    assert "error" in envelope, f"reply without 'error': {envelope}"
    decoded = json.loads(base64.b64decode(envelope["payload"]))
    if envelope["error"]:
        assert envelope["payloadtype"] == "error"
        assert decoded["status"] == r.status_code, (decoded, r.status_code)
    else:
        assert r.status_code == 200
    return RawReply(r.status_code, envelope, decoded)


def expect_status(server, msg, prvkey, status):
    """Asserts that `msg` signed with `prvkey` fails with `status`; returns the message."""
    reply = raw_rpc(server, msg, prvkey)
    assert reply.error, f"expected {status}, got success {reply.payload}"
    assert reply.status == status, reply.payload
    return reply.payload["message"]


def _wait_healthy(proc, url):
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise AssertionError(f"colony-server did not answer {url} within {START_DEADLINE_S}s")


def _stop(proc):
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=STOP_DEADLINE_S)


@pytest.fixture(scope="session")
def server():
    binary = os.environ.get("COLONY_SERVER_BIN")
    if not binary:
        pytest.fail("COLONY_SERVER_BIN is not set (run scripts/conformance.sh)", pytrace=False)
    if not os.access(binary, os.X_OK):
        pytest.fail(f"COLONY_SERVER_BIN={binary} is not an executable file", pytrace=False)
    prvkey, server_id = new_key()
    data_dir = tempfile.mkdtemp(prefix="colony-conformance-")
    log_path = os.path.join(data_dir, "server.log")
    proc = None
    try:
        # A free port can be taken between the probe and the bind: try a few.
        for _ in range(3):
            port = free_port()
            env = dict(os.environ)
            env.update(
                {
                    "COLONIES_SERVER_ID": server_id,
                    "COLONIES_SERVER_PORT": str(port),
                    "RUST_LOG": env.get("RUST_LOG", "warn"),
                }
            )
            log = open(log_path, "ab")
            proc = subprocess.Popen(
                [binary, "--listen", "127.0.0.1", "--data-dir", os.path.join(data_dir, "db")],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
            if _wait_healthy(proc, f"http://127.0.0.1:{port}/health"):
                break
            proc = None
        if proc is None:
            with open(log_path, encoding="utf-8", errors="replace") as f:
                pytest.fail(f"colony-server did not start:\n{f.read()}", pytrace=False)
        yield Server("127.0.0.1", port, prvkey, server_id, proc, log_path)
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class Colony:
    """A fresh colony with helpers to add members."""

    server: Server
    client: Colonies
    name: str
    prvkey: str
    colony_id: str
    executors: dict = field(default_factory=dict)

    def add_executor(self, executor_type="worker", name=None, approve=True, location=None):
        """Registers an executor (approved unless told otherwise); returns (name, prvkey, id)."""
        prv, eid = new_key()
        name = name or f"{executor_type}-{uuid.uuid4().hex[:8]}"
        executor = {
            "executorname": name,
            "executorid": eid,
            "colonyname": self.name,
            "executortype": executor_type,
        }
        if location:
            executor["locationname"] = location
        added = self.client.add_executor(executor, self.prvkey)
        assert added["executorid"] == eid
        assert added["state"] == 0
        if approve:
            self.client.approve_executor(self.name, name, self.prvkey)
        self.executors[name] = prv
        return name, prv, eid

    def add_user(self, name=None):
        """Adds a user; returns (name, prvkey, id)."""
        prv, uid = new_key()
        name = name or f"user-{uuid.uuid4().hex[:8]}"
        user = {"colonyname": self.name, "userid": uid, "name": name, "email": "", "phone": ""}
        added = self.client.add_user(user, self.prvkey)
        assert added["userid"] == uid
        return name, prv, uid


@pytest.fixture
def colony(server):
    client = server.client()
    prv, cid = new_key()
    name = f"colony-{uuid.uuid4().hex[:10]}"
    added = client.add_colony({"colonyid": cid, "name": name}, server.prvkey)
    assert added == {"colonyid": cid, "name": name}
    return Colony(server, client, name, prv, cid)
