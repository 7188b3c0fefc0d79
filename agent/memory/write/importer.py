"""Import conversation history into a user's memory, through the same write path as a turn.

A request is a list of sessions, each with a date and messages in OpenAI chat format:

    {"sessions": [{"id": "s1", "date": "2023-05-08T14:00:00Z",
                   "messages": [{"role": "user", "content": "..."},
                                {"role": "assistant", "content": "..."}]}]}

A message may also carry `name` (OpenAI's field: who said it, in a chat between people); it is
kept with the message, so a question that names someone finds what they said.

Every session is checked before anything is written; one bad field refuses the whole request
with an error naming it. Each session is then one thread (`import:<id>`): its turns are written
by `write_turns`, so they are scrubbed, kept as episodes dated by the session, learned from and
reconciled, and recorded in the ledger. Importing the same sessions again writes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from langgraph.store.base import BaseStore

from agent.memory.model.episodes import Utterance
from agent.memory.model.schema import Identity, Source
from agent.memory.text.messages import CONTROL, NotText, content_text
from agent.memory.text.scrub import scrub
from agent.memory.write.turns import Extractor, Turn, scrub_turns, write_turns

MAX_SESSIONS = 2_000
MAX_MESSAGES_PER_SESSION = 2_000
MAX_MESSAGE_CHARS = 32_000
MAX_NAME_CHARS = 64
BATCH_MESSAGES = 128
"""Sessions are written together until they hold this many messages."""
SKIPPED_ROLES = {"system", "developer", "tool", "function"}
"""Roles that are not part of what the user and the assistant said: left out of memory."""
ROLES = {"user": "user", "human": "user", "assistant": "assistant", "ai": "assistant"}
# LongMemEval writes dates as "2023/05/08 (Mon) 14:00".
_SLASHED = re.compile(r"^(\d{4})/(\d{2})/(\d{2})(?: \(\w+\))?(?: (\d{2}):(\d{2}))?$")


class InvalidImport(ValueError):
    """An import request that cannot be stored; the message names the field and the fix."""


@dataclass(frozen=True)
class Session:
    """One conversation to import, checked."""

    id: str
    date: datetime
    messages: tuple[tuple[str, str], ...]
    """(role, text) of what the user and the assistant said, in order."""
    speakers: tuple[str | None, ...] = ()
    """Each message's `name`, when given (same order; empty: none named)."""

    def speaker(self, number: int) -> str | None:
        """Who said message `number`, if the history named them."""
        return self.speakers[number] if number < len(self.speakers) else None


@dataclass
class ImportReport:
    """What an import stored."""

    sessions: int = 0
    turns: int = 0
    already_imported: int = 0
    episodes: int = 0
    memories: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counts."""
        return {"sessions": self.sessions, "turns": self.turns,
                "already_imported": self.already_imported, "episodes": self.episodes,
                "memories": dict(sorted(self.memories.items()))}


def parse_date(value: Any, where: str) -> datetime:
    """An ISO 8601 date or time (UTC when no zone is given), or `YYYY/MM/DD (Day) HH:MM`."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidImport(f"{where} is missing: give the session's date, e.g. 2023-05-08T14:00:00Z")
    text = value.strip()
    if match := _SLASHED.match(text):
        year, month, day, hour, minute = (int(g) if g else 0 for g in match.groups())
        try:
            return datetime(year, month, day, hour, minute, tzinfo=UTC)
        except ValueError as err:
            raise InvalidImport(f"{where} {value!r} is not a date: {err}") from err
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise InvalidImport(
            f"{where} {value!r} is not a date: use ISO 8601, e.g. 2023-05-08T14:00:00Z") from err
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _text(content: Any, where: str) -> str:
    try:
        text = content_text(content)
    except NotText as err:
        raise InvalidImport(f"{where}{err}") from err
    if len(text) > MAX_MESSAGE_CHARS:
        raise InvalidImport(f"{where} has {len(text)} characters; at most {MAX_MESSAGE_CHARS}")
    # Exports carry stray control characters (vertical tabs, form feeds, NUL, which Postgres
    # text refuses): they become spaces rather than refusing a whole history.
    return CONTROL.sub(" ", text)


def _session(raw: Any, index: int) -> Session:
    where = f"sessions[{index}]"
    if not isinstance(raw, dict):
        raise InvalidImport(f"{where} must be an object with `date` and `messages`")
    if unknown := sorted(set(raw) - {"id", "date", "messages"}):
        raise InvalidImport(f"{where} has unknown fields {unknown}: use id, date and messages")
    date = parse_date(raw.get("date"), f"{where}.date")
    messages = raw.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidImport(f"{where}.messages must be a non-empty list of chat messages")
    if len(messages) > MAX_MESSAGES_PER_SESSION:
        raise InvalidImport(f"{where}.messages has {len(messages)} items; at most "
                            f"{MAX_MESSAGES_PER_SESSION} (split the session)")
    said: list[tuple[str, str]] = []
    speakers: list[str | None] = []
    for number, message in enumerate(messages):
        at = f"{where}.messages[{number}]"
        if not isinstance(message, dict):
            raise InvalidImport(f"{at} must be an object with `role` and `content`")
        role = message.get("role")
        if role in SKIPPED_ROLES:
            continue
        if role not in ROLES:
            raise InvalidImport(f"{at}.role is {role!r}: use user or assistant")
        said.append((ROLES[str(role)], _text(message.get("content"), f"{at}.content")))
        speakers.append(_name(message.get("name"), f"{at}.name"))
    session_id = raw.get("id")
    if session_id is not None and (not isinstance(session_id, str | int) or not str(session_id)):
        raise InvalidImport(f"{where}.id must be a non-empty string")
    # Without an id, the content names the session, so sending it again is still a no-op.
    digest = hashlib.sha256(json.dumps([date.isoformat(), said]).encode()).hexdigest()[:24]
    return Session(id=str(session_id) if session_id is not None else digest, date=date,
                   messages=tuple(said),
                   speakers=tuple(speakers) if any(speakers) else ())


def _name(value: Any, where: str) -> str | None:
    """A message's `name`: who said it (absent or empty: not named)."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_NAME_CHARS or CONTROL.search(value):
        raise InvalidImport(f"{where} must be a name of at most {MAX_NAME_CHARS} characters "
                            "without control characters")
    # A name may be an address or a number (an export names some people so): scrubbed like
    # every stored text.
    return " ".join(scrub(value).text.split()) or None


def parse_sessions(body: Any) -> list[Session]:
    """Check a whole request; raise InvalidImport naming the first bad field."""
    if not isinstance(body, dict):
        raise InvalidImport("the body must be an object like {'sessions': [...]}")
    if unknown := sorted(set(body) - {"sessions", "namespace"}):
        raise InvalidImport(f"the body has unknown fields {unknown}: use sessions (and namespace)")
    sessions = body.get("sessions")
    if not isinstance(sessions, list) or not sessions:
        raise InvalidImport("sessions must be a non-empty list")
    if len(sessions) > MAX_SESSIONS:
        raise InvalidImport(f"sessions has {len(sessions)} items; at most {MAX_SESSIONS} a request")
    parsed = [_session(raw, index) for index, raw in enumerate(sessions)]
    seen: set[str] = set()
    for index, session in enumerate(parsed):
        if session.id in seen:
            raise InvalidImport(f"sessions[{index}].id {session.id!r} appears twice")
        seen.add(session.id)
    return parsed


def turns_of(session: Session) -> list[Turn]:
    """The session's turns: each user message with the assistant messages after it."""
    thread = f"import:{session.id}"
    groups: list[list[tuple[int, str, str]]] = []
    for number, (role, text) in enumerate(session.messages):
        if role == "user" or not groups:
            groups.append([])
        groups[-1].append((number, role, text))
    turns = []
    for group in groups:
        first, role, text = group[0]
        user = Utterance("user", text if role == "user" else "", str(first), position=first,
                         speaker=session.speaker(first) if role == "user" else None)
        answers = tuple(Utterance("assistant", t, str(n), position=n, speaker=session.speaker(n))
                        for n, r, t in group if r == "assistant")
        turns.append(Turn(source=Source(thread_id=thread, message_id=str(first)),
                          said_at=session.date, user=user, answers=answers))
    return turns


def chained(turns: Sequence[Turn]) -> list[Turn]:
    """Scrubbed turns, each given the last message of the turn before it in its session.

    The turns of a session are consecutive; the message's scrubbed text is reused, not scrubbed
    again.
    """
    out: list[Turn] = []
    for turn in turns:
        previous = out[-1] if out else None
        if previous is not None and previous.source.thread_id == turn.source.thread_id:
            turn = replace(turn, before=(previous.answers or (previous.user,))[-1])
        out.append(turn)
    return out


def _batches(sessions: Sequence[Session]) -> list[list[Session]]:
    """Consecutive sessions, grouped until a group holds BATCH_MESSAGES messages."""
    batches: list[list[Session]] = [[]]
    for session in sessions:
        if sum(len(s.messages) for s in batches[-1]) >= BATCH_MESSAGES:
            batches.append([])
        batches[-1].append(session)
    return [batch for batch in batches if batch]


async def import_sessions(
    store: BaseStore, identity: Identity, sessions: Sequence[Session], extract: Extractor,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Write the sessions' turns in order, a few sessions a batch; report what was stored.

    Batching sessions lets the store write many episodes in one round trip; the turns of a
    batch are reconciled in order, so the outcome is the same as session by session. Episodes
    are embedded by the store's vector worker meanwhile, not here. Each batch is scrubbed once,
    ahead, off the event loop.
    """
    result = ImportReport()
    batches = _batches(sessions)
    if not batches:
        return result
    upcoming = chained(await scrub_turns([turn for s in batches[0] for turn in turns_of(s)]))
    for index, batch in enumerate(batches):
        turns = upcoming
        following = batches[index + 1] if index + 1 < len(batches) else None
        # The next batch is scrubbed (off the loop, when large) while this one is written.
        scrubbing = asyncio.create_task(scrub_turns(
            [turn for s in following for turn in turns_of(s)])) if following else None
        try:
            written = await write_turns(store, identity, turns, extract)
        except BaseException:
            if scrubbing is not None:
                scrubbing.cancel()  # the import stops here; nothing waits for the next batch
            raise
        if scrubbing is not None:
            upcoming = chained(await scrubbing)
        result.sessions += len(batch)
        result.turns += written.turns
        result.already_imported += len(written.replayed)
        result.episodes += written.episodes
        result.memories.update(op.action for op in written.applied)
        if progress:
            progress(sum(len(s.messages) for s in batch))
    return result
