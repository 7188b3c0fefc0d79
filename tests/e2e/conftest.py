"""The real `langgraph dev` server, started as a subprocess on a free port, driven by langgraph-sdk."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from selenium.webdriver.remote.webdriver import WebDriver

from tests.conftest import mint
from tests.e2e.browser import chrome

ROOT = Path(__file__).resolve().parents[2]


def _serve_args() -> list[str]:
    """The arguments `python3 scripts/dev.py serve` gives `langgraph dev` (the script's own)."""
    spec = importlib.util.spec_from_file_location("engram_dev", ROOT / "scripts" / "dev.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return list(script.SERVE_ARGS)


SERVE_ARGS = _serve_args()
# Test users: alice and bob are members of acme, carol of globex, dana is an acme admin.
USERS = {"alice": ("acme", "member"), "bob": ("acme", "member"), "carol": ("globex", "member"),
         "dana": ("acme", "admin"), "erin": ("acme", "member"), "frank": ("acme", "member"),
         "gina": ("acme", "member"), "hugo": ("acme", "member"), "ivan": ("globex", "member"),
         "judy": ("acme", "admin"), "kim": ("acme", "member"), "lena": ("acme", "member"),
         "mona": ("acme", "member"), "nina": ("acme", "member"), "omar": ("acme", "member"),
         "pia": ("acme", "member"), "quinn": ("acme", "member"), "rosa": ("acme", "member"),
         "tom": ("acme", "member"), "mallory": ("acme", "member"), "uma": ("acme", "member"),
         "vera": ("acme", "member"), "walt": ("acme", "member"), "xena": ("acme", "member"),
         "yuri": ("acme", "member"), "zoe": ("acme", "member"), "abel": ("acme", "member"),
         "sam": ("acme", "member"), "vic": ("acme", "member"), "ian": ("initech", "admin"),
         "ike": ("initech", "member"), "tess": ("acme", "member"), "ugo": ("acme", "member"),
         "wren": ("acme", "member"), "yves": ("acme", "member"), "zack": ("acme", "member"),
         "dora": ("acme", "member"), "ops": ("acme", "service")}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config_for(workdir: Path) -> Path:
    """langgraph.json with its paths made absolute, so the server can run in `workdir`.

    The dev server keeps its thread registry in its working directory: tests get their own.
    """
    config = json.loads((ROOT / "langgraph.json").read_text())

    def absolute(path: str) -> str:
        return str(ROOT / path[2:]) if path.startswith("./") else path

    config["graphs"] = {name: absolute(p) for name, p in config["graphs"].items()}
    for section in ("checkpointer", "store", "auth"):
        config[section]["path"] = absolute(config[section]["path"])
    config["http"]["app"] = absolute(config["http"]["app"])
    config["dependencies"] = [str(ROOT)]
    config.pop("env", None)
    target = workdir / "langgraph.json"
    target.write_text(json.dumps(config, indent=2))
    return target


class Server:
    """One `langgraph dev` process; kill() is a SIGKILL, start() brings it back on the same data."""

    def __init__(self, workdir: Path, env: dict[str, str], extra_args: list[str] | None = None) -> None:
        self.workdir = workdir
        self.extra_args = SERVE_ARGS if extra_args is None else extra_args
        self.env = {**os.environ, **env}
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = _config_for(workdir)
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "server.log"

    def start(self) -> None:
        langgraph = Path(sys.executable).parent / "langgraph"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(langgraph), "dev", "--port", str(self.port), "--no-browser", "--no-reload",
                 "--config", str(self.config), *self.extra_args],
                cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/ok", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not answer /ok in 60 s: {self.log.read_text()[-3000:]}")

    def wait_for_registry_flush(self) -> None:
        """Wait until the dev server has written its thread registry to disk.

        `langgraph dev` keeps threads and runs in memory and writes them to `.langgraph_api/`
        every 10 s (checkpoints go to Postgres at once): a SIGKILL loses registry changes made
        since the last write. The server image keeps its registry in Postgres instead.
        """
        registry = self.workdir / ".langgraph_api" / ".langgraph_ops.pckl"
        since = time.time()
        deadline = since + 30
        while time.time() < deadline:
            if registry.exists() and registry.stat().st_mtime > since:
                return
            time.sleep(0.2)
        raise RuntimeError("the dev server did not write its registry within 30 s")

    def kill(self) -> None:
        """SIGKILL the whole server process group: no clean shutdown, no flush."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="session")
def server(
    engram_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("server"), engram_env)
    running.start()
    yield running
    running.stop()


def token_for(user: str) -> str:
    """A valid JWT of one of the test users."""
    org, role = USERS[user]
    return mint(user, org, role)


@pytest.fixture
def client_for(server: Server) -> Callable[[str], LangGraphClient]:
    """An SDK client authenticated as one of the test users."""

    def make(user: str) -> LangGraphClient:
        return get_client(url=server.url, headers={"Authorization": f"Bearer {token_for(user)}"})

    return make


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    """Headless Chromium (tests/e2e/browser.py), one for the session."""
    driver = chrome()
    yield driver
    driver.quit()
