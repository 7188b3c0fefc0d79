"""Shared fixtures: a real Postgres database (with pgvector) per test session, dropped afterwards."""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import psycopg
import pytest

from store import embedded
from store.database import DEFAULT_DATA_DIR

ROOT = Path(__file__).resolve().parent.parent
JWT_SECRET = secrets.token_urlsafe(48)
JWT_ISSUER = "https://auth.engram.test"
JWT_AUDIENCE = "engram"


def mint(
    sub: str, org: str, role: str = "member", *, ttl_s: int = 3600, key: str = JWT_SECRET,
    **claims: Any,
) -> str:
    """A JWT as the service's identity provider would issue it (HS256, the test secret)."""
    now = int(time.time())
    payload = {"sub": sub, "org": org, "role": role, "iss": JWT_ISSUER, "aud": JWT_AUDIENCE,
               "iat": now, "exp": now + ttl_s, **claims}
    return jwt.encode(payload, key, algorithm="HS256")


@pytest.fixture(scope="session")
def new_database() -> Iterator[Callable[[], str]]:
    """Make fresh databases on TEST_DATABASE_URL's Postgres or the embedded one; drop them after."""
    admin = os.environ.get("TEST_DATABASE_URL") or embedded.ensure_running(
        ROOT / (os.environ.get("ENGRAM_DATA_DIR") or DEFAULT_DATA_DIR)
    )
    made: list[str] = []

    def make() -> str:
        name = f"engram_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        info = psycopg.conninfo.conninfo_to_dict(admin)
        info["dbname"] = name
        return psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]

    yield make
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url(new_database: Callable[[], str]) -> str:
    """The session's database, which the service under test uses."""
    return new_database()


@pytest.fixture(scope="session")
def engram_env(database_url: str) -> Iterator[dict[str, str]]:
    """The environment the service runs with in tests: offline, on the test database."""
    values = {
        "DATABASE_URL": database_url,
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGGRAPH_NO_VERSION_CHECK": "true",
        "LANGSMITH_TRACING": "false",
        "ENGRAM_AUTH": "jwt",
        "ENGRAM_JWT_SECRET": JWT_SECRET,
        "ENGRAM_JWT_ISSUER": JWT_ISSUER,
        "ENGRAM_JWT_AUDIENCE": JWT_AUDIENCE,
        "MODEL": "",
        "LOG_JSON": "true",
        "EMBEDDINGS": "",
        # MCP writes that change or delete a memory wait for approval (new ones do not).
        "ENGRAM_MCP_APPROVAL": "on_change",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in values.items():
            patch.setenv(key, value)
        patch.delenv("LANGSMITH_API_KEY", raising=False)
        patch.delenv("ENGRAM_DEV_TOKENS", raising=False)
        yield values


@pytest.fixture(scope="session")
async def memory_store(engram_env: dict[str, str]) -> AsyncIterator[Any]:
    """The service's own store factory, on the test database."""
    from agent.stores import store

    async with store() as opened:
        yield opened


@pytest.fixture(scope="session")
async def checkpointer(engram_env: dict[str, str]) -> AsyncIterator[Any]:
    """The service's own checkpointer factory, on the test database."""
    from store.postgres import checkpointer as make_checkpointer

    async with make_checkpointer() as opened:
        yield opened
