"""The production path that can be checked without Docker: config, Dockerfile, compose file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
LANGGRAPH = str(Path(sys.executable).parent / "langgraph")


def test_the_configuration_validates_and_the_dockerfile_wires_in_engram(tmp_path: Path) -> None:
    checked = subprocess.run([LANGGRAPH, "validate"], cwd=ROOT, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "is valid" in checked.stdout

    made = subprocess.run([LANGGRAPH, "dockerfile", str(tmp_path / "Dockerfile")], cwd=ROOT,
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stdout + made.stderr
    dockerfile = (tmp_path / "Dockerfile").read_text()
    assert "agent/stores.py:checkpointer" in dockerfile
    assert "agent/stores.py:store" in dockerfile
    assert '"disable_studio_auth": true' in dockerfile
    assert '"enable_custom_route_auth": true' in dockerfile
    assert "agent/graph.py:graph" in dockerfile


def test_the_compose_file_sets_what_the_service_needs() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    environment = compose["services"]["engram"]["environment"]
    for name in ("POSTGRES_URI", "REDIS_URI", "DATABASE_URL", "ENGRAM_AUTH", "ENGRAM_JWT_SECRET",
                 "ENGRAM_JWT_ISSUER", "ENGRAM_JWT_AUDIENCE"):
        assert name in environment
    assert environment["ENGRAM_AUTH"] == "jwt"
    assert "ENGRAM_DEV_TOKENS" not in environment
    assert "pgvector" in compose["services"]["postgres"]["image"]
    assert "store.maintenance" in compose["services"]["retention"]["entrypoint"]
