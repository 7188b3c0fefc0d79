"""Vectors filled in off the write path: messages are stored at once, embedded in the background.

A turn stores its messages without waiting for the embedding model: the word index finds them
in the very next turn, and a worker fills in their vectors in batches moments later (a batch
costs less per text, most of all when it holds texts of like length). Other values are not
deferred: they are embedded as they are written, so a fact is found by meaning in the very next
turn. Which kind holds the messages, and which of their fields is embedded, is the
application's (`KindPolicy.messages`, store/retention.py); a store without one defers nothing.

What is pending lives in Postgres, so nothing is lost to a crash: triggers on `store`, made from
the message kind by `install_triggers` (the store's setup), queue a message in
`engram_pending_vectors` in the same transaction that stores it (and again when its embedded
field changes), a row leaves the queue in the same transaction that stores its vector, and a
deleted message takes its queue row with it. Any number of workers, in any number of processes,
share the queue (`FOR UPDATE SKIP LOCKED`).

Fair order: each batch takes the oldest pending message of every namespace before the second
of any, so one user's flood of writes (an import) delays another user's vectors by one batch at
most. A model error leaves the messages stored and queued; they are retried with a growing
delay, one by one when a batch fails (so one bad text cannot hold up the others), and counted in
the metrics.

The store factory runs a worker in each server process; an application can run it in a process
of its own instead (ENGRAM_VECTOR_WORKER=off on the servers).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg
from langchain_core.embeddings import Embeddings
from psycopg import sql
from psycopg.rows import DictRow

from store.database import Pool
from store.retention import MessageKind

logger = logging.getLogger(__name__)

BATCH = 256
"""Most messages claimed and embedded at once. Large batches let the model group texts of like
length (an import's vectors: 0.62 of the model's own rate at 32, 0.80 at 128, 0.91 at 512;
BENCHMARKS.md); a query waiting on the model waits for one chunk of 32 texts, not the batch;
another user's message waits for at most the batch in progress."""
IDLE_POLL_S = 5.0
"""How often an idle worker looks for work queued by other processes (this one wakes it)."""
DRAIN_POLL_S = 0.02
"""How often `drain` looks again while another worker holds due messages."""
RETRY_MAX_S = 300
"""The longest wait before a failing message is tried again (the delay doubles up to it)."""
TRIGGER_PREFIX = "engram_queue_vector_"
"""Every queue trigger's name starts so (`install_triggers` replaces those of another kind)."""

MIGRATIONS = (
    """
    CREATE TABLE IF NOT EXISTS engram_pending_vectors (
        prefix text NOT NULL,
        key text NOT NULL,
        queued_at timestamptz NOT NULL DEFAULT now(),
        attempts integer NOT NULL DEFAULT 0,
        not_before timestamptz NOT NULL DEFAULT now(),
        last_error text,
        PRIMARY KEY (prefix, key),
        FOREIGN KEY (prefix, key) REFERENCES store (prefix, key) ON DELETE CASCADE
    )
    """,
    "CREATE INDEX IF NOT EXISTS engram_pending_vectors_order_idx "
    "ON engram_pending_vectors (prefix, queued_at)",
    """
    CREATE OR REPLACE FUNCTION engram_queue_vector() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO engram_pending_vectors (prefix, key) VALUES (NEW.prefix, NEW.key)
        ON CONFLICT (prefix, key) DO UPDATE SET queued_at = now(), attempts = 0,
            not_before = now(), last_error = NULL;
        RETURN NULL;
    END $$
    """,
    # These three versions made the triggers for one kind, written into them, and queued what
    # was stored before. The triggers are the application's now: every setup makes them from
    # its message kind (`install_triggers`, which replaces these where they were made). The
    # versions keep their numbers and do nothing.
    "SELECT 'retired: the insert trigger'",
    "SELECT 'retired: the update trigger'",
    "SELECT 'retired: the first queueing'",
)
"""Schema of the queue, appended to the store's own migrations (store/search.py)."""

_TRIGGERS = r"""
SELECT tgname AS name FROM pg_trigger
WHERE tgrelid = 'store'::regclass AND NOT tgisinternal AND tgname LIKE 'engram\_queue\_vector\_%'
"""

_INSERT_TRIGGER = """
CREATE OR REPLACE TRIGGER {name} AFTER INSERT ON store FOR EACH ROW
WHEN (NEW.value->>'kind' = {kind} AND NEW.value ? {field})
EXECUTE FUNCTION engram_queue_vector()
"""

_UPDATE_TRIGGER = """
CREATE OR REPLACE TRIGGER {name} AFTER UPDATE OF value ON store FOR EACH ROW
WHEN (NEW.value->>'kind' = {kind} AND NEW.value ? {field}
      AND NEW.value->>{field} IS DISTINCT FROM OLD.value->>{field})
EXECUTE FUNCTION engram_queue_vector()
"""

# Messages stored while no trigger queued them (before these, or under another kind) get a
# vector too. (A scan of the table, once per change of the message kind.)
_QUEUE_UNEMBEDDED = """
INSERT INTO engram_pending_vectors (prefix, key)
SELECT s.prefix, s.key FROM store s
WHERE s.value->>'kind' = %(kind)s AND s.value ? %(field)s AND NOT EXISTS (
    SELECT 1 FROM store_vectors v
    WHERE v.prefix = s.prefix AND v.key = s.key AND v.field_name = %(field)s)
ON CONFLICT DO NOTHING
"""


def trigger_names(messages: MessageKind) -> tuple[str, str]:
    """The insert and update triggers of this message kind (a digest: kinds are any text)."""
    digest = hashlib.sha256(repr((messages.name, messages.field)).encode()).hexdigest()[:16]
    return f"{TRIGGER_PREFIX}{digest}_insert", f"{TRIGGER_PREFIX}{digest}_update"


async def install_triggers(conn: psycopg.AsyncConnection[DictRow], messages: MessageKind) -> None:
    """Queue this kind's messages for their vectors, instead of any other kind's.

    A store already set up for this kind is left alone (one catalog read): opening it takes no
    lock on `store`.
    """
    wanted = trigger_names(messages)
    found = {str(row["name"]) for row in await (await conn.execute(_TRIGGERS)).fetchall()}
    if found == set(wanted):
        return
    literals = {"kind": sql.Literal(messages.name), "field": sql.Literal(messages.field)}
    async with conn.transaction():
        for name in sorted(found - set(wanted)):
            await conn.execute(sql.SQL("DROP TRIGGER IF EXISTS {} ON store").format(
                sql.Identifier(name)))
        for template, name in zip((_INSERT_TRIGGER, _UPDATE_TRIGGER), wanted, strict=True):
            await conn.execute(sql.SQL(template).format(name=sql.Identifier(name), **literals))
        await conn.execute(_QUEUE_UNEMBEDDED, {"kind": messages.name, "field": messages.field})


# The oldest due message of every namespace first, then every namespace's second, and so on.
# Namespaces with pending work are found by skipping through the primary key, so a queue of one
# flooding user's 100,000 messages costs a handful of index reads, not a scan.
_CLAIM = """
WITH RECURSIVE owners AS (
    (SELECT prefix FROM engram_pending_vectors ORDER BY prefix LIMIT 1)
    UNION ALL
    SELECT (SELECT p.prefix FROM engram_pending_vectors p WHERE p.prefix > o.prefix
            ORDER BY p.prefix LIMIT 1)
    FROM owners o WHERE o.prefix IS NOT NULL
), due AS (
    SELECT q.prefix, q.key, q.queued_at,
        row_number() OVER (PARTITION BY q.prefix ORDER BY q.queued_at) AS round
    FROM owners o CROSS JOIN LATERAL (
        SELECT p.prefix, p.key, p.queued_at FROM engram_pending_vectors p
        WHERE p.prefix = o.prefix AND p.not_before <= now()
        ORDER BY p.queued_at LIMIT %(batch)s
    ) q
    WHERE o.prefix IS NOT NULL
)
SELECT p.prefix, p.key, p.attempts, s.value->>%(field)s AS text
FROM due d
JOIN engram_pending_vectors p ON p.prefix = d.prefix AND p.key = d.key
JOIN store s ON s.prefix = p.prefix AND s.key = p.key
ORDER BY d.round, d.queued_at
LIMIT %(batch)s
FOR UPDATE OF p SKIP LOCKED
FOR KEY SHARE OF s SKIP LOCKED
"""
# The message rows are locked with their queue rows (KEY SHARE: an update of their value goes
# on, a delete waits for this batch). Storing a vector takes that lock anyway (its foreign key);
# taken only then, after a delete had locked the message and waited for its queue row, the two
# transactions would wait for each other (a deadlock, seen under a forget during embedding).

# A vector is stored only while its message still is (one deleted meanwhile is skipped).
_STORE = """
INSERT INTO store_vectors (prefix, key, field_name, embedding, created_at, updated_at)
SELECT v.prefix, v.key, %s::text, v.embedding::vector, now(), now()
FROM unnest(%s::text[], %s::text[], %s::text[]) AS v(prefix, key, embedding)
JOIN store s ON s.prefix = v.prefix AND s.key = v.key
ON CONFLICT (prefix, key, field_name) DO UPDATE
SET embedding = EXCLUDED.embedding, updated_at = now()
"""

_DONE = """
DELETE FROM engram_pending_vectors p
USING unnest(%s::text[], %s::text[]) AS d(prefix, key)
WHERE p.prefix = d.prefix AND p.key = d.key
"""

_DUE = "SELECT EXISTS (SELECT 1 FROM engram_pending_vectors WHERE not_before <= now()) AS due"

# The delay doubles with each attempt up to RETRY_MAX_S; the exponent is capped first, so a
# message that has failed for ages (2^1024 is past a double) still gets its next try.
_FAILED = """
UPDATE engram_pending_vectors SET attempts = attempts + 1, last_error = %s,
    not_before = now() + make_interval(secs => least(power(2, least(attempts, 20)), %s))
WHERE prefix = %s AND key = %s
"""


@dataclass
class Pending:
    """One claimed message: where it is and the text to embed."""

    prefix: str
    key: str
    text: str | None
    attempts: int


@dataclass
class WorkerStats:
    """What a worker has done since it started (exported as metrics by the server)."""

    filled: int = 0
    batches: int = 0
    failures: int = 0
    last_error: str | None = None
    embed_seconds: float = 0.0
    write_seconds: float = 0.0


def vector_literal(vector: Sequence[float]) -> str:
    """A vector as pgvector's text input (`[x,y,...]`)."""
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


@dataclass
class VectorWorker:
    """Fills in the vectors of queued messages, a fair batch at a time."""

    pool: Pool
    embeddings: Embeddings
    field_name: str
    """The messages' embedded field (`MessageKind.field`)."""
    batch: int = BATCH
    stats: WorkerStats = field(default_factory=WorkerStats)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Tell the worker that messages were queued (by this process)."""
        self._wake.set()

    async def fill_once(self) -> int:
        """Embed and store one fair batch; return how many messages it settled (0: none due)."""
        async with self.pool.connection() as conn, conn.transaction():
            rows = await (await conn.execute(
                _CLAIM, {"batch": self.batch, "field": self.field_name})).fetchall()
            if not rows:
                return 0
            claimed = [Pending(r["prefix"], r["key"], r["text"], r["attempts"]) for r in rows]
            embeddable = [p for p in claimed if p.text]
            began = time.perf_counter()
            vectors, failed = await self._embed(embeddable)
            self.stats.embed_seconds += time.perf_counter() - began
            began = time.perf_counter()
            done = [p for p in embeddable if (p.prefix, p.key) not in failed]
            stored = [(p, v) for p, v in zip(embeddable, vectors, strict=True) if v is not None]
            if stored:
                await conn.execute(_STORE, (self.field_name, [p.prefix for p, _ in stored],
                                            [p.key for p, _ in stored],
                                            [vector_literal(v) for _, v in stored]))
            settled = [p for p in claimed if not p.text] + done
            await conn.execute(_DONE, ([p.prefix for p in settled], [p.key for p in settled]))
            for (prefix, key), error in failed.items():
                await conn.execute(_FAILED, (error[:500], RETRY_MAX_S, prefix, key))
            self.stats.write_seconds += time.perf_counter() - began
        self.stats.filled += len(stored)
        self.stats.batches += 1
        return len(claimed)

    async def _embed(
        self, pending: Sequence[Pending]
    ) -> tuple[list[list[float] | None], dict[tuple[str, str], str]]:
        """Vectors of the texts (None where the model failed) and the errors by (prefix, key)."""
        if not pending:
            return [], {}
        try:
            return list(await self.embeddings.aembed_documents([p.text or "" for p in pending])), {}
        except Exception as err:  # any model error: the messages stay queued
            self._failed(err)
            if len(pending) == 1:
                return [None], {(pending[0].prefix, pending[0].key): repr(err)}
        # One at a time, so one text the model refuses does not hold up the rest.
        vectors: list[list[float] | None] = []
        failed: dict[tuple[str, str], str] = {}
        for p in pending:
            try:
                vectors.append((await self.embeddings.aembed_documents([p.text or ""]))[0])
            except Exception as err:
                self._failed(err)
                vectors.append(None)
                failed[(p.prefix, p.key)] = repr(err)
        return vectors, failed

    def _failed(self, err: Exception) -> None:
        self.stats.failures += 1
        self.stats.last_error = repr(err)[:500]
        logger.warning("embedding pending vectors failed (they stay queued): %r", err)

    async def drain(self) -> int:
        """Fill every vector that is due now; return how many messages this call settled.

        Messages another worker holds are waited for, so when this returns every message
        queued before it is embedded or failed (and retried later).
        """
        total = 0
        while True:
            if settled := await self.fill_once():
                total += settled
                continue
            async with self.pool.connection() as conn:
                row = await (await conn.execute(_DUE)).fetchone()
            if not row or not row["due"]:
                return total
            await asyncio.sleep(DRAIN_POLL_S)

    async def run(self) -> None:
        """Fill vectors until cancelled: at once when woken, else every IDLE_POLL_S seconds."""
        while True:
            self._wake.clear()
            try:
                if await self.fill_once():
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a dead database: keep the worker, try again later
                self._failed(err)
            try:
                await asyncio.wait_for(self._wake.wait(), IDLE_POLL_S)
            except TimeoutError:
                pass

    def start(self) -> asyncio.Task[None]:
        """Run the worker in the background of the current event loop."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="engram-vector-worker")
        return self._task

    async def stop(self) -> None:
        """Cancel the background worker (whatever it claimed goes back to the queue)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


async def pending_count(pool: Pool) -> dict[str, float]:
    """How many messages wait for a vector, how many have failed, and the oldest's age (s)."""
    async with pool.connection() as conn:
        row = await (await conn.execute(
            "SELECT count(*) AS pending, count(*) FILTER (WHERE attempts > 0) AS failing, "
            "coalesce(extract(epoch FROM now() - min(queued_at)), 0) AS oldest_s "
            "FROM engram_pending_vectors")).fetchone()
    assert row is not None
    return {"pending": int(row["pending"]), "failing": int(row["failing"]),
            "oldest_s": float(row["oldest_s"])}
