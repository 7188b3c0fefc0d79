"""A second, independent client: the JavaScript LangGraph SDK, run with node."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import mint
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e
JS = Path(__file__).parent / "js"


@pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                    reason="node and npm are not installed: the JavaScript SDK test needs them")
async def test_the_javascript_sdk_runs_the_approval_flow(server: Server) -> None:
    if not (JS / "node_modules" / "@langchain" / "langgraph-sdk").exists():
        install = await asyncio.create_subprocess_exec(
            "npm", "ci", "--no-audit", "--no-fund", cwd=JS,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        output, _ = await install.communicate()
        assert install.returncode == 0, output.decode()[-2000:]
    run = await asyncio.create_subprocess_exec(
        "node", "memory_flow.mjs", cwd=JS, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "ENGRAM_URL": server.url, "ENGRAM_TOKEN": mint("jules", "acme")})
    out, err = await asyncio.wait_for(run.communicate(), timeout=120)
    assert run.returncode == 0, err.decode()[-2000:]
    seen = json.loads(out.decode().strip().splitlines()[-1])
    assert seen["next"] == ["approve_memory"]
    assert seen["proposed"] == ["The user prefers green tea over coffee."]
    assert seen["statuses"] == ["applied"]
    assert seen["checkpoints"] >= 6
    assert seen["memories"][0] == "The user prefers green tea over coffee."
