"""scripts/dev.py serve never announces a port it will not serve on."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_serve_stops_with_the_fix_when_its_port_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "dev.py"), "serve"], cwd=ROOT,
            env={**os.environ, "PORT": str(port)}, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert f"port {port} is already in use" in result.stderr
    assert f"PORT={port + 1}" in result.stderr
    assert "Engram on http" not in result.stdout  # no URL announced for a port it cannot serve
