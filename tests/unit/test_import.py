"""Import on the real store: parsing and its errors, the operators' CLI, idempotence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.memory.model.schema import Identity, memory_namespace
from agent.memory.write.importer import InvalidImport, parse_date, parse_sessions, turns_of
from agent.server import import_cli

SESSIONS = {"sessions": [
    {"id": "s1", "date": "2023/05/08 (Mon) 14:00", "messages": [
        {"role": "assistant", "content": "Welcome back!"},
        {"role": "user", "content": "I moved to Porto last month."},
        {"role": "assistant", "content": "How do you like it?"},
        {"role": "user", "content": "My token is sk-abcdefghijklmnopqrstuvwxyz123456, keep it."},
    ]},
]}


def test_dates_in_both_formats_and_turns_grouped_by_user_message() -> None:
    (session,) = parse_sessions(SESSIONS)
    assert session.date.isoformat() == "2023-05-08T14:00:00+00:00"
    assert parse_date("2023-05-08", "d").isoformat() == "2023-05-08T00:00:00+00:00"
    turns = turns_of(session)
    assert [(t.user.text, [a.text for a in t.answers]) for t in turns] == [
        ("", ["Welcome back!"]),
        ("I moved to Porto last month.", ["How do you like it?"]),
        ("My token is sk-abcdefghijklmnopqrstuvwxyz123456, keep it.", []),
    ]
    assert {t.source.thread_id for t in turns} == {"import:s1"}


def test_control_characters_become_spaces() -> None:
    (session,) = parse_sessions({"sessions": [{"date": "2023-01-01", "messages": [
        {"role": "user", "content": "tab\there, vertical\x0btab, nul\x00, line\nbreak"}]}]})
    assert session.messages == (("user", "tab\there, vertical tab, nul , line\nbreak"),)


@pytest.mark.parametrize(("body", "field"), [
    ([], "the body must be an object"),
    ({"sessions": [{"id": "a", "date": "2023-01-01", "messages": [{"role": "user", "content": "x"}]},
                   {"id": "a", "date": "2023-01-02", "messages": [{"role": "user", "content": "y"}]}]},
     "sessions[1].id 'a' appears twice"),
    ({"sessions": [{"date": "2023-02-30", "messages": [{"role": "user", "content": "x"}]}]},
     "sessions[0].date"),
    ({"sessions": [{"date": "2023-01-01", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": "x"}]}]}]}, "sessions[0].messages[0].content[0]"),
    ({"sessions": [{"date": "2023-01-01", "messages": [{"role": "user"}]}]},
     "sessions[0].messages[0].content"),
])
def test_bad_input_names_the_field(body: Any, field: str) -> None:
    with pytest.raises(InvalidImport, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_sessions(body)


async def test_the_cli_imports_once_and_scrubs(
    memory_store: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "history.json"
    path.write_text(json.dumps(SESSIONS))
    identity = Identity(user_id="cli-user@example.com", org_id="acme")

    assert await import_cli.run(path, identity) == 0
    first = json.loads(capsys.readouterr().out)
    assert await import_cli.run(path, identity) == 0
    second = json.loads(capsys.readouterr().out)

    assert (first["turns"], first["episodes"], first["memories"]) == (3, 4, {"add": 1})
    assert (second["turns"], second["already_imported"], second["episodes"]) == (0, 3, 0)
    items = await memory_store.asearch(memory_namespace(identity), limit=100)
    assert "sk-abcdefghijklmnopqrstuvwxyz123456" not in str([i.value for i in items])
    assert "The user lives in Porto." in {i.value["text"] for i in items}
    (bad := tmp_path / "bad.json").write_text('{"sessions": [{"messages": []}]}')
    assert await import_cli.run(bad, identity) == 2
    assert "sessions[0].date" in capsys.readouterr().err


async def test_names_places_and_the_message_before_are_kept_scrubbed(
    memory_store: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "chat.json"
    path.write_text(json.dumps({"sessions": [{"id": "c1", "date": "2023-05-08", "messages": [
        {"role": "user", "name": "Ann  Lee", "content": "I moved to Porto last month."},
        {"role": "assistant", "name": "Bob", "content":
            "My token is sk-abcdefghijklmnopqrstuvwxyz123456, keep it."},
        {"role": "user", "name": "Ann Lee", "content": "Noted, and how is Lisbon?"},
        {"role": "assistant", "name": "bob@example.com", "content": "Sunny."},
    ]}]}))
    identity = Identity(user_id="names@example.com", org_id="acme")
    assert await import_cli.run(path, identity) == 0
    capsys.readouterr()
    items = await memory_store.asearch(memory_namespace(identity), limit=100)
    episodes = sorted((i.value for i in items if i.value["kind"] == "episode"),
                      key=lambda value: value["position"])
    assert [(e["position"], e["speaker"]) for e in episodes][:3] == [
        (0, "Ann Lee"), (1, "Bob"), (2, "Ann Lee")]
    assert "bob@example.com" not in str([i.value for i in items])  # a name is scrubbed too
    assert episodes[0]["gist"] == "I moved to Porto last month."
    before, own = episodes[2]["gist"].split("\n")
    assert own == "Noted, and how is Lisbon?" and before == episodes[1]["text"]
    assert before.startswith("My token is ") and "sk-abcdefghij" not in before
    assert "sk-abcdefghijklmnopqrstuvwxyz123456" not in str([i.value for i in items])


def test_a_name_that_is_not_a_name_is_refused() -> None:
    for name in (7, "x" * 65, "tab\x0b"):
        with pytest.raises(InvalidImport, match=r"sessions\[0\].messages\[0\].name"):
            parse_sessions({"sessions": [{"date": "2023-01-01", "messages": [
                {"role": "user", "name": name, "content": "hi"}]}]})


async def test_a_deleted_message_leaves_nothing_in_the_next_ones_vector(
    memory_store: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.memory.write.corrections import delete

    path = tmp_path / "chat.json"
    path.write_text(json.dumps({"sessions": [{"id": "c2", "date": "2023-05-08", "messages": [
        {"role": "user", "content": "My secret hobby is falconry in Tromso."},
        {"role": "assistant", "content": "That sounds wonderful."},
        {"role": "user", "content": "Thanks a lot."},
    ]}]}))
    identity = Identity(user_id="forget-context@example.com", org_id="acme")
    assert await import_cli.run(path, identity) == 0
    capsys.readouterr()
    namespace = memory_namespace(identity)

    def episodes(items: list[Any]) -> dict[int, Any]:
        return {i.value["position"]: i for i in items if i.value["kind"] == "episode"}

    before = episodes(await memory_store.asearch(namespace, limit=100))
    assert "falconry" in before[1].value["gist"]  # embedded after the message before it
    await delete(memory_store, namespace, before[0].key)
    after = episodes(await memory_store.asearch(namespace, limit=100))
    assert sorted(after) == [1, 2]
    assert after[1].value["gist"] == "That sounds wonderful."  # its own words only
    assert after[2].value["gist"] == before[2].value["gist"]  # not after the deleted one
    await memory_store.fill_vectors()  # the rewritten gist was queued for a new vector
    found = await memory_store.asearch(namespace, query="falconry hobby Tromso", limit=5)
    assert all("falconry" not in str(hit.value) for hit in found)
