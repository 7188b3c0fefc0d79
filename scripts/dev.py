"""Set up Engram's virtualenv if needed, then serve it or test it.

    python3 scripts/dev.py serve   # the LangGraph dev server on the embedded defaults
    python3 scripts/dev.py test    # lint, type check and the whole test suite (installs Chromium
                                   # for the console's browser tests when it may: root and apt)
    python3 scripts/dev.py stop-db # stop the embedded Postgres (it outlives the server)

Needs only Python 3.11+. The virtualenv lives in `.venv/`; it is (re)installed when
pyproject.toml changes, so a re-run starts at once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import venv
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".engram-installed"
PORT = os.environ.get("PORT", "2024")
# Offline by default: no analytics, no version check, no tracing (and so no LangSmith calls).
OFFLINE = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "LANGSMITH_TRACING": "false",
    "HF_HUB_OFFLINE": "1",
}
DEV_TOKENS = "dev-alice=alice@local,dev-bob=bob@local"
# `langgraph dev` runs one run at a time unless told otherwise (its help says 10; its code says
# 1): one user's long run would hold every other user's turns in the queue. The server image
# runs 10 per worker by default (N_JOBS_PER_WORKER); so does this.
SERVE_ARGS = ["--n-jobs-per-worker", "10"]


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script runs before the venv exists
        sys.exit(f"Engram needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted and (BIN / "langgraph").exists():
        return
    if not (BIN / "python").exists():
        print("creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    print("installing dependencies into .venv (first run only) ...", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(wanted)


# The console's browser tests drive the system Chromium (browser downloads need the internet).
BROWSER_PACKAGES = {"debian": ["chromium", "chromium-driver"],
                    "ubuntu": ["chromium-browser", "chromium-chromedriver"]}


def has_browser() -> bool:
    if os.environ.get("CHROMIUM") and os.environ.get("CHROMEDRIVER"):
        return True
    browsers = ("chromium", "chromium-browser", "google-chrome")
    return any(shutil.which(b) for b in browsers) and shutil.which("chromedriver") is not None


def distribution() -> str:
    """'debian', 'ubuntu' (or a derivative of one), else ''."""
    try:
        fields = dict(line.split("=", 1) for line in
                      Path("/etc/os-release").read_text().splitlines() if "=" in line)
    except OSError:
        return ""
    names = [fields.get("ID", "").strip('"'), *fields.get("ID_LIKE", "").strip('"').split()]
    return next((name for name in names if name in BROWSER_PACKAGES), "")


def ensure_browser() -> None:
    """Install Chromium for the browser tests where we may (root, apt), else say how."""
    if has_browser():
        return
    distro = distribution()
    packages = BROWSER_PACKAGES.get(distro, BROWSER_PACKAGES["debian"])
    line = f"apt-get install -y {' '.join(packages)}"
    if distro and os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"installing Chromium for the console's browser tests: {line}", flush=True)
        quiet = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=quiet)
        subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=quiet)
        if has_browser():
            return
    sys.exit("The memory console's tests drive a headless Chromium, which is not installed.\n"
             f"Install it, then run this command again:\n  sudo {line}\n"
             "(elsewhere: any Chromium or Chrome with its matching chromedriver, named by the "
             "CHROMIUM and CHROMEDRIVER environment variables)")


def environment() -> dict[str, str]:
    return {**os.environ, **OFFLINE}


def port_taken(port: str) -> bool:
    """Whether something already listens on 127.0.0.1:`port` (langgraph dev would move away)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", int(port)))
        except OSError:
            return True
    return False


def serve() -> int:
    if not PORT.isdigit():
        sys.exit(f"PORT must be a port number, got {PORT!r}")
    if port_taken(PORT):
        # `langgraph dev` would silently serve on another port than the one announced below.
        sys.exit(f"port {PORT} is already in use (another Engram or langgraph dev?): stop it, "
                 f"or choose a free port, e.g. PORT={int(PORT) + 1} python3 scripts/dev.py serve")
    env = environment()
    if not env.get("ENGRAM_AUTH"):
        # Local default: static dev tokens. Production sets ENGRAM_AUTH=jwt (see .env.example).
        env["ENGRAM_AUTH"] = "dev"
        env.setdefault("ENGRAM_DEV_TOKENS", DEV_TOKENS)
    tokens = [entry.split("=", 1) for entry in env.get("ENGRAM_DEV_TOKENS", "").split(",") if entry]
    database = "DATABASE_URL" if env.get("DATABASE_URL") else "embedded Postgres in .engram/"
    model = env.get("MODEL") or "offline responder (set MODEL for a real model)"
    print(
        f"\nEngram on http://127.0.0.1:{PORT}  (database: {database}; model: {model})\n"
        f"  Memory console: http://127.0.0.1:{PORT}/engram/ui/\n"
        f"  MCP (streamable HTTP): http://127.0.0.1:{PORT}/engram/mcp\n"
        f"  Studio: https://smith.langchain.com/studio/?baseUrl=http://127.0.0.1:{PORT}\n"
        f"  API docs: http://127.0.0.1:{PORT}/docs\n"
        f"  Auth: {env['ENGRAM_AUTH']}"
        + ("; bearer tokens: " + ", ".join(f"{t} -> {who}" for t, who in tokens) if tokens else "")
        + "\n",
        flush=True,
    )
    command = [str(BIN / "langgraph"), "dev", "--port", PORT, "--no-browser", *SERVE_ARGS]
    return subprocess.call(command, cwd=ROOT, env=env)


def test(extra: list[str]) -> int:
    if not extra:  # the whole suite, browser tests included
        ensure_browser()
    env = environment()
    steps = [
        [str(BIN / "ruff"), "check", "."],
        [str(BIN / "mypy")],
        [str(BIN / "pytest"), *extra],
    ]
    for step in steps:
        print(f"$ {' '.join(Path(step[0]).name if i == 0 else a for i, a in enumerate(step))}",
              flush=True)
        if code := subprocess.call(step, cwd=ROOT, env=env):
            return code
    return 0


def stop_db() -> int:
    code = "from pathlib import Path; from store import embedded, database; " \
        "import os; embedded.stop(Path(os.environ.get('ENGRAM_DATA_DIR') or database.DEFAULT_DATA_DIR))"
    return subprocess.call([str(BIN / "python"), "-c", code], cwd=ROOT, env=environment())


def main() -> int:
    command, extra = (sys.argv[1] if len(sys.argv) > 1 else ""), sys.argv[2:]
    commands: dict[str, Callable[[], int]] = {
        "serve": serve, "test": lambda: test(extra), "stop-db": stop_db, "setup": lambda: 0,
    }
    if command not in commands:
        sys.exit("usage: python3 scripts/dev.py serve | test [pytest args] | stop-db | setup")
    ensure_venv()
    return commands[command]()


if __name__ == "__main__":
    sys.exit(main())
