"""Mem0's official JavaScript client (`mem0ai` 3.3.1 on npm) against Engram's Mem0-compatible routes.

The client is used unchanged: `new MemoryClient({apiKey: <the user's Engram token>, host: <server>})`
in tests/e2e/js/mem0_flow.mjs, run with node. Its telemetry is off (MEM0_TELEMETRY=false, read
when the package loads) and the script records every request the client makes, so the test
checks it reached the server under test and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import mint
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e
JS = Path(__file__).parent / "js"
VERSION = "3.3.1"
FACT = "I am allergic to peanuts."
CHANGED = "I am allergic to peanuts and to cashews."
# Users of their own (not in tests.e2e.conftest.USERS), so other tests' memories are not in the way.
USER, OTHER = "mika", "noor"


async def run_flow(server: Server) -> dict[str, Any]:
    if not (JS / "node_modules" / "mem0ai").exists():
        install = await asyncio.create_subprocess_exec(
            "npm", "ci", "--no-audit", "--no-fund", cwd=JS,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        output, _ = await install.communicate()
        assert install.returncode == 0, output.decode()[-2000:]
    with tempfile.TemporaryDirectory(prefix="engram-mem0js-") as mem0_dir:
        run = await asyncio.create_subprocess_exec(
            "node", "mem0_flow.mjs", cwd=JS, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "MEM0_TELEMETRY": "false", "MEM0_DIR": mem0_dir,
                 "ENGRAM_URL": server.url, "ENGRAM_USER": USER,
                 "ENGRAM_TOKEN": mint(USER, "acme"), "ENGRAM_OTHER_TOKEN": mint(OTHER, "acme")})
        out, err = await asyncio.wait_for(run.communicate(), timeout=120)
        assert run.returncode == 0, err.decode()[-2000:]
        assert not os.listdir(mem0_dir), "the client wrote its local config with telemetry off"
    assert not err.strip(), err.decode()[-2000:]  # the client logs failures (ping, telemetry) there
    seen: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return seen


@pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                    reason="node and npm are not installed: the JavaScript client test needs them")
async def test_mem0s_javascript_client_adds_finds_changes_and_deletes(server: Server) -> None:
    seen = await run_flow(server)

    # Only the server under test was called, always with the key as `Token`, by this client.
    requests = seen["requests"]
    assert {r["origin"] for r in requests} == {server.url}
    assert {r["authorization"] for r in requests} == {"Token"}
    # Each client pings once when it is made (that request carries the key alone).
    pings = [r for r in requests if r["path"] == "/v1/ping/"]
    assert [(r["method"], r["status"]) for r in pings] == [("GET", 200)] * 2
    assert {r["client"] for r in requests if r not in pings} == {f"mem0-js/{VERSION}"}
    assert seen["identity"] == {"org": "acme", "project": "engram"}

    (fact,) = seen["added"]
    assert fact["memory"] == FACT and fact["event"] == "ADD" and fact["id"]
    assert seen["addedStatus"] == "SUCCEEDED"
    assert seen["conversation"]["status"] == "SUCCEEDED" and seen["conversation"]["eventId"]

    first = seen["found"][0]
    assert first["id"] == fact["id"] and first["memory"] == FACT
    assert first["userId"] == USER and first["metadata"] == {"source": "intake-form"}
    assert first["score"] > 0
    # Ranked by meaning: another question finds what the conversation taught first.
    assert seen["foundCity"] and "Porto" in seen["foundCity"][0], seen["foundCity"]

    listed = seen["listed"]
    assert fact["id"] in listed["ids"] and listed["count"] == len(listed["ids"]) >= 2
    assert any("Porto" in text for text in listed["texts"]), listed["texts"]  # from the conversation
    assert seen["got"] == {"id": fact["id"], "memory": FACT,
                           "metadata": {"source": "intake-form"}, "userId": USER}

    assert seen["updated"] == CHANGED and seen["gotAfterUpdate"] == CHANGED
    assert seen["history"] == [{"event": "ADD", "old": None, "new": FACT},
                               {"event": "UPDATE", "old": FACT, "new": CHANGED}]

    other = seen["other"]
    assert other["searchNamed"] == [] and other["list"] == []
    assert fact["id"] not in other["search"]
    for refused in (other["get"], other["delete"]):
        assert refused is not None and refused["name"] == "MemoryNotFoundError"
        assert refused["code"] == "HTTP_404" and "is yours" in refused["message"]
    assert other["add"] is not None and other["add"]["name"] == "AuthenticationError"
    assert other["add"]["code"] == "HTTP_403" and "not yours" in other["add"]["message"]
    assert seen["stillMine"] == CHANGED

    assert seen["deleted"] == "Memory deleted successfully!"
    gone = seen["getAfterDelete"]
    assert gone is not None and gone["name"] == "MemoryNotFoundError" and gone["code"] == "HTTP_404"
    assert fact["id"] not in seen["listedAfterDelete"] and seen["listedAfterDelete"]
    assert seen["deletedAll"] == "Memories deleted successfully!"
    assert seen["listedAfterDeleteAll"] == []
