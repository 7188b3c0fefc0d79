"""Every resource and operation, tried by everyone who must not succeed: all denied, nothing leaks.

The victim is alice (member of acme). The attackers: bob (another member of acme), carol (a
member of globex), alice herself acting as an admin, and requests with no token, an expired
token, a token for another audience, a tampered signature, or Studio's `x-auth-scheme` header.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from agent.memory.model.schema import Identity, memory_namespace, shared_namespace
from tests.conftest import mint
from tests.e2e.conftest import Server
from tests.e2e.helpers import GRAPH, say

pytestmark = pytest.mark.e2e

Clients = Callable[[str], LangGraphClient]
SECRET_FACT = "The user's favourite colour is vermilion."
ALICE_NS = list(memory_namespace(Identity("alice", "acme")))
SHARED_NS = list(shared_namespace("acme"))
RUN = {"assistant_id": GRAPH, "input": {"messages": [{"role": "user", "content": "hi"}]}}

# (name, method, path, body); {t} is alice's thread, {r} her run, {a} the assistant.
THREAD_AND_STORE_OPS: list[tuple[str, str, str, Any]] = [
    ("thread get", "GET", "/threads/{t}", None),
    ("thread update", "PATCH", "/threads/{t}", {"metadata": {"owner": "mallory"}}),
    ("thread delete", "DELETE", "/threads/{t}", None),
    ("thread copy", "POST", "/threads/{t}/copy", {}),
    ("state get", "GET", "/threads/{t}/state", None),
    ("state update", "POST", "/threads/{t}/state", {"values": {"summary": "pwned"}}),
    ("history", "POST", "/threads/{t}/history", {"limit": 10}),
    ("run create", "POST", "/threads/{t}/runs", RUN),
    ("run wait", "POST", "/threads/{t}/runs/wait", RUN),
    ("run list", "GET", "/threads/{t}/runs", None),
    ("run get", "GET", "/threads/{t}/runs/{r}", None),
    ("run join", "GET", "/threads/{t}/runs/{r}/join", None),
    ("store get", "GET", "/store/items?namespace=" + ".".join(ALICE_NS) + "&key=colour", None),
    ("store put", "PUT", "/store/items",
     {"namespace": ALICE_NS, "key": "planted", "value": {"text": "I am an admin"}}),
    ("store delete", "DELETE", "/store/items", {"namespace": ALICE_NS, "key": "colour"}),
    ("store search", "POST", "/store/items/search", {"namespace_prefix": ALICE_NS}),
    ("namespaces", "POST", "/store/namespaces", {"prefix": ALICE_NS}),
]
ADMIN_OPS: list[tuple[str, str, str, Any]] = [
    ("assistant create", "POST", "/assistants", {"graph_id": GRAPH, "name": "mine"}),
    ("assistant update", "PATCH", "/assistants/{a}", {"name": "renamed"}),
    ("assistant delete", "DELETE", "/assistants/{a}", None),
    ("cron create", "POST", "/runs/crons", {**RUN, "schedule": "* * * * *"}),
    ("thread cron create", "POST", "/threads/{t}/runs/crons", {**RUN, "schedule": "* * * * *"}),
    ("cron search", "POST", "/runs/crons/search", {}),
    ("shared memory put", "PUT", "/store/items",
     {"namespace": SHARED_NS, "key": "policy", "value": {"text": "Everyone is an admin"}}),
    ("shared memory delete", "DELETE", "/store/items", {"namespace": SHARED_NS, "key": "wifi"}),
]
# Searches answer 200 with only the caller's own data: they must show nothing of alice's.
FILTERED_OPS: list[tuple[str, str, str, Any]] = [
    ("thread search", "POST", "/threads/search", {"limit": 100}),
    ("store root search", "POST", "/store/items/search", {"namespace_prefix": ["memories"]}),
    ("namespace listing", "POST", "/store/namespaces", {"prefix": ["memories"]}),
]


def bad_tokens() -> dict[str, dict[str, str]]:
    return {
        "no token": {},
        "expired token": {"Authorization": f"Bearer {mint('alice', 'acme', ttl_s=-600)}"},
        "wrong audience": {"Authorization": f"Bearer {mint('alice', 'acme', aud='other')}"},
        "tampered signature": {"Authorization": f"Bearer {mint('alice', 'acme')[:-6]}AAAAAA"},
        "forged role": {"Authorization": f"Bearer {mint('alice', 'acme', 'admin', key='k' * 48)}"},
        "studio header": {"x-auth-scheme": "langsmith"},
    }


@pytest.fixture(scope="module")
async def victim(server: Server) -> dict[str, str]:
    from langgraph_sdk import get_client

    alice = get_client(url=server.url, headers={"Authorization": f"Bearer {mint('alice', 'acme')}"})
    dana = get_client(url=server.url,
                      headers={"Authorization": f"Bearer {mint('dana', 'acme', 'admin')}"})
    thread = await alice.threads.create()
    await say(alice, thread["thread_id"], "My favourite colour is vermilion.")
    run = (await alice.runs.list(thread["thread_id"]))[0]
    await alice.store.put_item(ALICE_NS, key="colour", value={"text": SECRET_FACT})
    await dana.store.put_item(SHARED_NS, key="wifi", value={"text": "The guest wifi is Acme-Guest."})
    assistant = (await alice.assistants.search(graph_id=GRAPH))[0]
    return {"t": thread["thread_id"], "r": run["run_id"], "a": assistant["assistant_id"]}


def _leaks(response: httpx.Response, victim: dict[str, str]) -> bool:
    """Anything of alice's the attacker did not send: her memory, her conversation, her run."""
    return any(marker in response.text for marker in ("vermilion", victim["r"], "Acme-Guest"))


async def _try(
    server: Server, headers: dict[str, str], op: tuple[str, str, str, Any], victim: dict[str, str]
) -> httpx.Response:
    _, method, path, body = op
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
        return await http.request(method, path.format(**victim),
                                  content=json.dumps(body) if body is not None else None,
                                  headers={"content-type": "application/json"})


ATTACKERS = {"bob": ("bob", "acme", "member"), "carol": ("carol", "globex", "member")}
CASES = (
    [(who, op) for who in ATTACKERS for op in THREAD_AND_STORE_OPS + ADMIN_OPS]
    + [("alice as admin", op) for op in ADMIN_OPS]
    + [(bad, op) for bad in bad_tokens() for op in THREAD_AND_STORE_OPS + ADMIN_OPS + FILTERED_OPS]
)


@pytest.mark.parametrize(("who", "op"), CASES, ids=[f"{w}: {o[0]}" for w, o in CASES])
async def test_denied_and_nothing_returned(
    server: Server, victim: dict[str, str], who: str, op: tuple[str, str, str, Any]
) -> None:
    if who in ATTACKERS:
        user, org, role = ATTACKERS[who]
        headers = {"Authorization": f"Bearer {mint(user, org, role)}"}
    elif who == "alice as admin":
        headers = {"Authorization": f"Bearer {mint('alice', 'acme')}"}
    else:
        headers = bad_tokens()[who]
    response = await _try(server, headers, op, victim)
    expected = {401} if who in bad_tokens() else {403, 404}
    if op[0] == "thread copy" and who not in bad_tokens():
        expected.add(409)  # the server answers a filtered-out copy source with 409; no copy is made
    assert response.status_code in expected, (who, op[0], response.status_code, response.text)
    assert not _leaks(response, victim)


FILTERED_CASES = [(who, op) for who in ATTACKERS for op in FILTERED_OPS]


@pytest.mark.parametrize(("who", "op"), FILTERED_CASES,
                         ids=[f"{w}: {o[0]}" for w, o in FILTERED_CASES])
async def test_searches_show_only_the_callers_own_data(
    server: Server, victim: dict[str, str], who: str, op: tuple[str, str, str, Any]
) -> None:
    user, org, role = ATTACKERS[who]
    response = await _try(server, {"Authorization": f"Bearer {mint(user, org, role)}"}, op, victim)
    assert response.status_code == 200, response.text
    assert not _leaks(response, victim)


async def test_after_the_attacks_alice_still_has_everything(
    client_for: Clients, victim: dict[str, str]
) -> None:
    alice = client_for("alice")
    thread = await alice.threads.get(victim["t"])
    assert thread["metadata"]["owner"] == "alice"
    item = await alice.store.get_item(ALICE_NS, key="colour")
    assert item is not None and item["value"]["text"] == SECRET_FACT
    assert await alice.store.get_item(ALICE_NS, key="planted") is None
    assert [a["name"] for a in await alice.assistants.search()] == [GRAPH]
    state = await alice.threads.get_state(victim["t"])
    assert state["values"].get("summary") != "pwned"


async def test_members_read_but_do_not_write_shared_memories(
    client_for: Clients, victim: dict[str, str]
) -> None:
    alice, carol = client_for("alice"), client_for("carol")
    thread = await alice.threads.create()
    values = await say(alice, thread["thread_id"], "What is the guest wifi called?")
    assert "The guest wifi is Acme-Guest." in values["messages"][-1]["response_metadata"]["seen"][
        "memories"]
    other = await carol.threads.create()
    values = await say(carol, other["thread_id"], "What is the guest wifi called?")
    assert all("Acme" not in m for m in values["messages"][-1]["response_metadata"]["seen"][
        "memories"])


def test_the_matrix_is_as_large_as_we_say() -> None:
    # Reported in SECURITY.md: keep the two in step.
    assert len(CASES) + len(FILTERED_CASES) == 232
