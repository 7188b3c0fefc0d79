"""The memory store: AsyncPostgresStore with hybrid search that stays right in small namespaces.

A namespace search with a query ranks by two signals fused in one SQL statement:
- meaning: cosine similarity of the query's vector to each memory's vector (pgvector);
- words: BM25 over Postgres full-text search (`english` configuration), looked up in a GIN
  index over each memory's lexemes prefixed by a digest of its namespace (`engram_word_keys`),
  so a common word's posting list is one user's, not the table's. Term frequency is binary
  (chat turns rarely repeat a word, and a repeated word in a long answer should not outweigh a
  rare one), IDF comes from the namespace's own counts.
The best POOL memories of each signal form the candidates. Similarity is scaled by the best
among them; the BM25 score by the IDF of all the query's words (what a memory holding every one
of them would score, capped at 1), so one shared common word does not count as a full match.
The two are mixed (LEXICAL_WEIGHT). Then
the conversation adds to a message's relevance (the application's message kind, laid out as
store/conversations.py reads it): a share of its neighbours' (the messages just before and
after it in its thread, among the candidates) and a share for being said by whom the query is
about (a `speaker` it names, else the user for "I"/"my", the assistant for "you"/"your").
Small bonuses for importance, kind and recency are added, and what a later statement replaced
is pushed below every current match. The result's `score` is that ranking score; each hit is
a `RankedItem` that also carries the two signals (`similarity`, `lexical`), so callers can tell
a word match from a meaning match. (The SQL hands them over in the row's value under MATCH;
`abatch` takes them off before any caller sees the value.)
The same SQL serves the graph's retrieve node and the HTTP API's `search_items`.

No index spans every user: what a search reads is its namespace's. Up to EXACT_MAX memories the
vector side is exact: the namespace's vectors are read together from a covering index on
(namespace, key) that includes the vector, and every distance is computed. A larger namespace
has an HNSW index of its own, a partial index built in the background (store/vector_indexes.py);
until it exists, the namespace is searched exactly. One SQL statement decides, by the
namespace's size as writes keep it (store/namespace_sizes.py), so the choice costs no round
trip and no count. (A table-wide HNSW index, the library's, found the nearest vectors of all
users first and filtered after: its cost grew with the table, BENCHMARKS.md section B.)
Searches with value filters, and those without a query, go to the library as is.

Writes get their kind's default TTL (store/retention.py) when they carry none, whether they come
from the graph or the HTTP API, and reads refresh it: a memory expires after its kind's TTL
without being read or rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langgraph.checkpoint.postgres import _ainternal
from langgraph.store.base import Op, PutOp, Result, SearchItem, SearchOp
from langgraph.store.postgres import AsyncPostgresStore
from langgraph.store.postgres.base import PLACEHOLDER, _decode_ns_bytes, _row_to_search_item
from psycopg import AsyncCursor
from psycopg.rows import DictRow

from store import half_precision, namespace_sizes, pending_vectors, vector_partitions
from store.pending_vectors import VectorWorker
from store.retention import KindPolicy

MATCH = "_match"
"""Where the search SQL puts a hit's two signals in its row; never in a value a caller sees."""


class RankedItem(SearchItem):
    """A search hit with the two signals its score fused: meaning and words."""

    __slots__ = ("similarity", "lexical")

    def __init__(self, item: SearchItem, similarity: float, lexical: float) -> None:
        """`item` with its cosine `similarity` to the query and its `lexical` (BM25) score."""
        super().__init__(item.namespace, item.key, item.value, item.created_at,
                         item.updated_at, item.score)
        self.similarity = similarity
        self.lexical = lexical

    def dict(self) -> dict[str, Any]:
        """As the HTTP store API answers it: the hit, its score, and its two signals."""
        return {**super().dict(), "similarity": self.similarity, "lexical": self.lexical}


def _ranked_hits(result: Result) -> Result:
    """A search's hits as RankedItems; any other result as it is."""
    if not isinstance(result, list) or not all(isinstance(hit, SearchItem) for hit in result):
        return result
    return [_ranked(hit) for hit in result if isinstance(hit, SearchItem)]


def _ranked(item: SearchItem) -> SearchItem:
    """The hit as a RankedItem, its signals taken off its value (others are returned as is)."""
    match = item.value.get(MATCH)
    if not isinstance(match, dict):
        return item
    item.value = {k: v for k, v in item.value.items() if k != MATCH}
    return RankedItem(item, float(match.get("similarity", 0)), float(match.get("lexical", 0)))

EXACT_MAX = 5_000
"""Namespaces up to this many memories are searched exactly (see BENCHMARKS.md for the cost)."""
# Session settings for the approximate branch (pgvector >= 0.8): scan on until `limit` rows pass
# the namespace filter; a wider candidate list for recall. Results are re-sorted by score.
# A generic plan cached for one namespace would be reused for all (exact and HNSW differ): plan
# every search for its own parameters.
SESSION_OPTIONS = ("-c hnsw.iterative_scan=relaxed_order -c hnsw.ef_search=100 "
                   "-c plan_cache_mode=force_custom_plan")
POOL = 50
"""Candidates taken from each signal before fusion."""
COUNT_MAX = 5_001
"""BM25's document count is a namespace's size capped at this (it was counted up to it; the cap
stays so the ranking does not move: BENCHMARKS.md, section R)."""
LEXICAL_MAX = 2_000
"""Most memories read per query word (a bound on the cost of common words; their df is capped)."""
LEXICAL_WEIGHT = 0.6
"""Share of the word signal in the fused relevance (BENCHMARKS.md, sections O and P)."""
NEIGHBOUR_SHARE = 0.2
"""Share of the better relevance of the messages just before and after it (among the
candidates) added to a message's own: an answer is found by its question and the reverse."""
SPEAKER_SHARE = 0.3
"""Added to what was said by whom the query is about: a speaker it names, else the user's
messages (and memories, which are the user's) for "I", the assistant's for "you"."""
SUPERSEDED_PENALTY = 1 + NEIGHBOUR_SHARE + SPEAKER_SHARE
"""Taken off the score of what a later statement replaced: all that relevance and the
conversation's terms can give, so it ranks below every current memory that matches as well."""
FIRST_PERSON = frozenset({"i", "me", "my", "mine", "myself"})
SECOND_PERSON = frozenset({"you", "your", "yours", "yourself"})
BM25_K1, BM25_B = 1.2, 0.75
IMPORTANCE_WEIGHT = 0.1
RECENCY_WEIGHT = 0.05
RECENCY_HALF_LIFE_DAYS = 60.0
TEXT_SEARCH_CONFIG = "english"

FUSIONS = {
    # Similarity scaled by the best candidate's; BM25 by what a memory holding every query word
    # would score (capped at 1), so one shared common word is not a full match.
    "scaled": "{dense_weight} * coalesce(similarity / nullif(max(similarity) OVER (), 0), 0)"
              " + {lexical_weight} * least(coalesce(lexical / nullif((SELECT sum(idf) FROM idf),"
              " 0), 0), 1)",
    # Each signal min-max scaled over the candidates (the plain textbook fusion).
    "minmax": "{dense_weight} * coalesce((similarity - min(similarity) OVER ())"
              " / nullif(max(similarity) OVER () - min(similarity) OVER (), 0), 0)"
              " + {lexical_weight} * coalesce((lexical - min(lexical) OVER ())"
              " / nullif(max(lexical) OVER () - min(lexical) OVER (), 0), 0)",
}
"""How the two signals are put on one scale before they are mixed (LEXICAL_WEIGHT)."""
FUSION = "scaled"



def query_words(query: str) -> list[str]:
    """The query's words, lower case, as said (names are matched against speakers)."""
    return sorted(set(re.findall(r"\w+", query.lower())))[:64]


def asked_about(words: Sequence[str]) -> str | None:
    """Whose messages a query asks about by its pronouns.

    "user" for I/my, "assistant" for you/your, None for both or neither.
    """
    first, second = bool(FIRST_PERSON.intersection(words)), bool(SECOND_PERSON.intersection(words))
    return None if first == second else "user" if first else "assistant"


def sql_text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def kind_case(bonus: Mapping[str, float]) -> str:
    """The SQL that adds each kind's ranking bonus (KindPolicy.rank_bonus) to a hit's score."""
    if not bonus:
        return "0"
    return "CASE store.value->>'kind' " + " ".join(
        "WHEN '{}' THEN {}".format(kind.replace("'", "''"), float(value))
        for kind, value in bonus.items()) + " ELSE 0 END"

_SEARCH = """
WITH RECURSIVE query AS MATERIALIZED (
    -- The query's vector, sent once, as the vectors are stored (half precision:
    -- store/half_precision.py), so no row converts it again.
    SELECT engram_stored_vector(%(vector)s::vector) AS v
), children(prefix) AS (
    -- Namespaces under the searched one (the library's prefix semantics; Engram's own searches
    -- name whole namespaces and find none), one index probe each: a loose scan of the prefix
    -- index between 'ns.' and 'ns/'.
    (SELECT prefix FROM store WHERE prefix ~>=~ (%(ns)s::text || '.') AND prefix ~<~ (%(ns)s::text || '/')
     ORDER BY prefix USING ~<~ LIMIT 1)
    UNION ALL
    SELECT (SELECT s.prefix FROM store s
            WHERE s.prefix ~>~ c.prefix AND s.prefix ~<~ (%(ns)s::text || '/')
            ORDER BY s.prefix USING ~<~ LIMIT 1)
    FROM children c WHERE c.prefix IS NOT NULL
), scope AS MATERIALIZED (
    SELECT %(ns)s::text AS prefix UNION ALL SELECT prefix FROM children WHERE prefix IS NOT NULL
), size AS MATERIALIZED (
    -- The scope's number of vectors, kept as they are written (store/namespace_sizes.py).
{scope_vectors}), terms AS MATERIALIZED (
    SELECT coalesce(array_agg(lexeme), '{{}}') AS words
    FROM unnest(tsvector_to_array(to_tsvector('{config}', %(query)s))) AS t(lexeme)
), hits AS MATERIALIZED (
    -- Per query word and namespace, the memories holding it, straight from the word index,
    -- whose keys are the namespace's own (engram_word_keys): a common word's posting list is
    -- one user's, never the whole table's.
    SELECT t.w, h.prefix, h.key, h.len
    FROM unnest((SELECT words FROM terms)) AS t(w)
    CROSS JOIN scope
    CROSS JOIN LATERAL (
        SELECT store.prefix, store.key, store.tsv_len AS len FROM store
        WHERE store.prefix = scope.prefix {expiry}
          AND engram_word_keys(store.prefix, store.value->>'text')
              @> ARRAY[engram_word_key(scope.prefix, t.w)]
        LIMIT {lexical_max}
    ) h
), idf AS (
    -- Every query word, found or not: a word no memory holds still counts in what a full
    -- match would score.
    -- The document count is capped at {count_max} whatever EXACT_MAX is, so the ranking does
    -- not depend on which branch reads the vectors.
    SELECT t.w, ln(1 + (greatest(least((SELECT n FROM size), {count_max}), coalesce(c.df, 0))
        - coalesce(c.df, 0)
        + 0.5) / (coalesce(c.df, 0) + 0.5)) AS idf
    FROM unnest((SELECT words FROM terms)) AS t(w)
    LEFT JOIN (SELECT w, count(*) AS df FROM hits GROUP BY w) c ON c.w = t.w
), bm25 AS (
    -- Binary term frequency: a memory's score is the IDF of the query words it holds, damped
    -- by its length against the average of the matches.
    SELECT h.prefix, h.key, sum(idf.idf) * ({k1} + 1) / (1 + {k1} * ({one_minus_b} + {b}
        * max(h.len) / nullif((SELECT avg(len) FROM (SELECT DISTINCT prefix, key, len FROM hits) d),
        0))) AS lexical
    FROM hits h JOIN idf ON idf.w = h.w
    GROUP BY h.prefix, h.key
    ORDER BY 3 DESC
    LIMIT {pool}
), exact AS (
    -- A namespace's vectors are read together from the covering index on (prefix, key)
    -- (store_vectors_namespace_idx), every distance computed. Every reference to the vectors
    -- names the searched namespace itself, so the statement is planned against its partition
    -- alone (store/vector_partitions.py).
    SELECT sv.prefix, sv.key, sv.embedding <=> (SELECT v FROM query) AS distance
    FROM store_vectors sv
    WHERE sv.prefix = %(ns)s::text AND (SELECT n FROM size) <= {exact_max}
    -- "+ 0" keeps the distance from any HNSW index: every vector of the namespace is scored.
    ORDER BY (sv.embedding <=> (SELECT v FROM query)) + 0
    LIMIT {pool}
), approximate AS (
    -- A large namespace has an HNSW index of its own (a partial index, store/vector_indexes.py);
    -- until it is built, this is an exact scan of the namespace.
    SELECT sv.prefix, sv.key, sv.embedding <=> (SELECT v FROM query) AS distance
    FROM store_vectors sv
    WHERE sv.prefix = %(ns)s::text AND (SELECT n FROM size) > {exact_max}
    ORDER BY sv.embedding <=> (SELECT v FROM query)
    LIMIT {pool}
), exact_children AS (
    -- Namespaces under the searched one, each scored whole by a function: their partitions
    -- are not known when the statement is planned, and naming the table here would plan it
    -- against every partition.
    SELECT c.prefix, d.key, d.distance
    FROM children c CROSS JOIN LATERAL engram_vector_distances(c.prefix, (SELECT v FROM query)::vector) d
    WHERE c.prefix IS NOT NULL
    ORDER BY d.distance
    LIMIT {pool}
), dense AS (
    SELECT prefix, key, min(distance) AS distance FROM (
        SELECT * FROM exact UNION ALL SELECT * FROM approximate
        UNION ALL SELECT * FROM exact_children
    ) found GROUP BY prefix, key
), candidates AS (
    SELECT prefix, key FROM dense UNION SELECT prefix, key FROM bm25
), signals AS (
    SELECT c.prefix, c.key, coalesce(b.lexical, 0) AS lexical,
        greatest(1 - coalesce(d.distance, CASE WHEN c.prefix = %(ns)s::text THEN (
            SELECT min(sv.embedding <=> (SELECT v FROM query)) FROM store_vectors sv
            WHERE sv.prefix = %(ns)s::text AND sv.key = c.key)
            ELSE (SELECT min(e.distance)
                  FROM engram_vector_distances(c.prefix, (SELECT v FROM query)::vector, c.key) e)
            END), 0)
            AS similarity
    FROM candidates c
    LEFT JOIN dense d ON d.prefix = c.prefix AND d.key = c.key
    LEFT JOIN bm25 b ON b.prefix = c.prefix AND b.key = c.key
), fused AS (
    SELECT prefix, key, similarity, lexical, {relevance} AS relevance
    FROM signals
), placed AS (
    -- Each candidate with its row, and where a message was said: its thread, its place
    -- there, by whom.
    SELECT f.*, store.value, store.created_at, store.updated_at,
        store.value->'source'->>'thread_id' AS thread,
        CASE WHEN store.value->>'kind' = {messages}
            AND jsonb_typeof(store.value->'position') = 'number'
            THEN (store.value->>'position')::numeric END AS position,
        CASE WHEN store.value->>'kind' = {messages} THEN store.value->>'role' END AS role,
        coalesce(store.value->>'kind' = {messages}
            AND string_to_array(lower(store.value->>'speaker'), ' ') && %(words)s::text[],
            false) AS named
    FROM fused f JOIN store ON store.prefix = f.prefix AND store.key = f.key
    WHERE TRUE {expiry}
), context AS (
    -- What a candidate's conversation adds: the relevance of its neighbours among the
    -- candidates, and whether it was said by whom the query asks about (a speaker it names;
    -- else the user for "I", the assistant for "you").
    SELECT p.*, p.relevance
        -- A memory that is not a message has no neighbours: it counts as its own, so a
        -- statement's message never outranks the memory learned from it by its neighbours.
        + {neighbour_share} * CASE WHEN p.position IS NULL THEN p.relevance ELSE coalesce(greatest(
            CASE WHEN lag(p.position) OVER thread = p.position - 1
                THEN lag(p.relevance) OVER thread END,
            CASE WHEN lead(p.position) OVER thread = p.position + 1
                THEN lead(p.relevance) OVER thread END), 0) END
        + {speaker_share} * CASE
            WHEN bool_or(p.named) OVER () THEN p.named::int
            WHEN %(about)s::text = 'user' THEN (p.role IS NULL OR p.role = 'user')::int
            WHEN %(about)s::text = 'assistant' THEN (p.role = 'assistant')::int
            ELSE 0 END AS ranked
    FROM placed p
    WINDOW thread AS (PARTITION BY p.prefix, p.thread ORDER BY p.position)
)
SELECT store.prefix, store.key,
    store.value || jsonb_build_object('{match}', jsonb_build_object(
        'similarity', round(store.similarity::numeric, 4), 'lexical', round(store.lexical::numeric, 4)
    )) AS value,
    store.created_at, store.updated_at,
    store.ranked
    + {importance_weight} * CASE WHEN jsonb_typeof(store.value->'importance') = 'number'
        THEN least(greatest((store.value->>'importance')::float, 0), 1) ELSE 0.5 END
    + {recency_weight} * exp(-ln(2) * extract(epoch FROM now() - store.updated_at)
        / ({half_life_days} * 86400))
    + {kind_case}
    -- What a later statement replaced (a superseded text, a message that stated it) ranks
    -- below what is current.
    - {superseded_penalty} * (store.value ? 'superseded_by')::int AS score
FROM context store
ORDER BY score DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

COVERING_MAX_DIMS = 512
"""Vectors up to this size fit a btree entry beside their namespace and key (the covering index);
larger ones are read from the table through the prefix index."""

# The namespace's vectors in one contiguous run of the index, read without the table. A larger
# vector would not fit a btree entry: such stores keep the plain prefix index.
COVERING_INDEX = f"""
DO $$
BEGIN
    IF (SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass('store_vectors')
        AND attname = 'embedding') BETWEEN 1 AND {COVERING_MAX_DIMS} THEN
        CREATE INDEX IF NOT EXISTS store_vectors_namespace_idx
            ON store_vectors (prefix text_pattern_ops, key) INCLUDE (embedding);
        DROP INDEX IF EXISTS store_vectors_prefix_idx;
    ELSE
        DROP INDEX IF EXISTS store_vectors_namespace_idx;
        CREATE INDEX IF NOT EXISTS store_vectors_prefix_idx
            ON store_vectors (prefix text_pattern_ops);
    END IF;
END $$
"""

# The library passes parameters as a list (it puts the query vector where PLACEHOLDER is): the
# named parameters above become positional ones, in the order they appear.
_SEARCH_PARAMS = tuple(re.findall(r"%\((\w+)\)s", _SEARCH))
_SEARCH_SQL = re.sub(r"%\(\w+\)s", "%s", _SEARCH)

# Our own schema changes, in order; the position is the version. Never edit or reorder.
MIGRATIONS = (
    # The exact search reads a namespace's vectors by prefix (equality, or LIKE for children).
    "CREATE INDEX IF NOT EXISTS store_vectors_prefix_idx ON store_vectors (prefix text_pattern_ops)",
    # The word signal: each memory's text as a tsvector, kept by Postgres on every write.
    f"ALTER TABLE store ADD COLUMN IF NOT EXISTS tsv tsvector GENERATED ALWAYS AS "
    f"(to_tsvector('{TEXT_SEARCH_CONFIG}', coalesce(value->>'text', ''))) STORED",
    "CREATE INDEX IF NOT EXISTS store_tsv_idx ON store USING gin (tsv)",
    # BM25's document length, kept beside the tsvector so a search never has to read it.
    f"ALTER TABLE store ADD COLUMN IF NOT EXISTS tsv_len integer GENERATED ALWAYS AS "
    f"(length(to_tsvector('{TEXT_SEARCH_CONFIG}', coalesce(value->>'text', '')))) STORED",
    # Messages' vectors are filled in off the write path, from a queue kept by triggers.
    *pending_vectors.MIGRATIONS,
    # Word keys of a namespace: the word with a short digest of the namespace in front, so the
    # word index's posting lists are per namespace (a common word's is one user's, not
    # everyone's). The digest only narrows the lookup; searches still filter by prefix.
    # (SQL-standard bodies: what they call is bound when they are created, not by search_path.)
    "CREATE OR REPLACE FUNCTION engram_word_key(prefix text, word text) RETURNS text "
    "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN left(md5(prefix), 12) || word",
    f"CREATE OR REPLACE FUNCTION engram_word_keys(prefix text, body text) RETURNS text[] "
    f"LANGUAGE sql IMMUTABLE PARALLEL SAFE COST 1000 "
    f"RETURN ARRAY(SELECT engram_word_key(prefix, lexeme) FROM unnest(tsvector_to_array("
    f"to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig, coalesce(body, '')))) AS t(lexeme))",
    "CREATE INDEX IF NOT EXISTS store_words_idx ON store "
    "USING gin (engram_word_keys(prefix, value->>'text'))",
    # The table-wide word index and its column are replaced by the namespaced one.
    "DROP INDEX IF EXISTS store_tsv_idx",
    "ALTER TABLE store DROP COLUMN IF EXISTS tsv",
    COVERING_INDEX,
    # The table-wide HNSW index is replaced by exact scans of a namespace and, for large ones,
    # a partial HNSW index of their own (store/vector_indexes.py).
    "DROP INDEX IF EXISTS store_vectors_embedding_idx",
    # New words go straight into the word index, not into a pending list that every search
    # would then read through.
    "ALTER INDEX store_words_idx SET (fastupdate = off)",
    # Word keys carry md5's full 128 bits of the namespace (48 before), so no two namespaces
    # share keys, by chance or by a name found to collide. md5, not sha256: md5(text) is
    # immutable, as an index's function must be, while core sha256 takes bytea, reached from
    # text only through a stable function; md5's weakness, two inputs made to collide, needs
    # both namespaces in one hand. The keys in the index are rebuilt with the function in one
    # transaction, so no search sees the two widths mixed; the rebuild holds the store's
    # writes and searches (0.5 s for 5,000 memories, 3 s for 50,000; the index grows 40%).
    """
    DO $$
    BEGIN
        CREATE OR REPLACE FUNCTION engram_word_key(prefix text, word text) RETURNS text
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN md5(prefix) || word;
        REINDEX INDEX store_words_idx;
    END $$
    """,
    # A namespace's size kept as it is written, not counted by each search.
    *namespace_sizes.MIGRATIONS,
    # Vectors at half precision: a new store's now, a populated one's by store/convert_vectors.py.
    half_precision.MIGRATION,
    # Vectors in hash partitions by namespace: a new store's now, a populated one's by
    # store/convert_vectors.py.
    *vector_partitions.migration(COVERING_MAX_DIMS),
    # The distances of a namespace under the searched one (or of one of its memories), planned
    # when it is called, against its own partition.
    """
    CREATE OR REPLACE FUNCTION engram_vector_distances(ns text, q vector, only_key text DEFAULT NULL)
    RETURNS TABLE (key text, distance double precision)
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
    BEGIN
        IF only_key IS NULL THEN
            RETURN QUERY SELECT sv.key, sv.embedding <=> engram_stored_vector(q)
                FROM store_vectors sv WHERE sv.prefix = ns;
        ELSE
            RETURN QUERY SELECT sv.key, sv.embedding <=> engram_stored_vector(q)
                FROM store_vectors sv WHERE sv.prefix = ns AND sv.key = only_key;
        END IF;
    END $$
    """,
)

# A read extends a memory's life to its full TTL, but only once 1% of the TTL has passed since
# the last extension (3.65 days of a year): most searches then write nothing, and a statement
# that writes nothing commits without waiting for the WAL to reach the disk.
_REFRESH = """
WITH search_results AS ({search}), refreshed AS (
    UPDATE store s SET expires_at = NOW() + (s.ttl_minutes || ' minutes')::interval
    FROM search_results sr
    WHERE s.prefix = sr.prefix AND s.key = sr.key AND s.ttl_minutes IS NOT NULL
      AND s.expires_at < NOW() + (s.ttl_minutes * 0.99 || ' minutes')::interval
)
SELECT * FROM search_results
"""
# Several namespace searches of one batch in one statement: each keeps its own plan, rows come
# back tagged with the search they answer.
_EACH = "SELECT {index} AS engram_search, s.* FROM ({search}) AS s"


def query_vector(vector: Sequence[float]) -> str:
    """A vector as pgvector's text (`[x,y,...]`), every float exactly as computed.

    Sent as a float array instead, its 384 elements were converted one by one in Python, the
    slowest part of sending a search (or a memory's vector).
    """
    return "[" + ",".join(map(repr, vector)) + "]"


class MemoryStore(AsyncPostgresStore):
    """AsyncPostgresStore with hybrid namespace search and TTLs by memory kind."""

    kinds: KindPolicy = KindPolicy()
    """What a value's `kind` means here: default TTLs for writes that name none, ranking
    bonuses, the messages' kind (the application's; Engram's come from
    agent/memory/model/kinds.py)."""

    vector_worker: VectorWorker | None = None
    """What fills in messages' vectors (store/pending_vectors.py), once started."""

    def __init__(self, *args: Any, kinds: KindPolicy | None = None, **kwargs: Any) -> None:
        """AsyncPostgresStore's arguments, and the application's `kinds`."""
        super().__init__(*args, **kwargs)
        if kinds is not None:
            self.kinds = kinds

    def _new_worker(self) -> VectorWorker | None:
        """A worker for the messages' vectors (None: this store defers none)."""
        if self.kinds.messages is None:
            return None
        assert self.embeddings is not None, "the memory store is configured with embeddings"
        return VectorWorker(self.conn, self.embeddings,  # type: ignore[arg-type]
                            self.kinds.messages.field)

    def start_vector_worker(self) -> VectorWorker | None:
        """Fill in queued messages' vectors in the background of this event loop."""
        self.vector_worker = self.vector_worker or self._new_worker()
        if self.vector_worker is not None:
            self.vector_worker.start()
        return self.vector_worker

    async def stop_vector_worker(self) -> None:
        """Stop the background worker (what it has not filled stays queued)."""
        if self.vector_worker is not None:
            await self.vector_worker.stop()

    async def fill_vectors(self) -> int:
        """Fill every queued vector that is due now, here; return how many messages settled."""
        worker = self.vector_worker or self._new_worker()
        return await worker.drain() if worker is not None else 0

    async def fold_sizes(self) -> None:
        """Fold the namespaces' size changes in now; the name of a namespace just emptied goes.

        (The maintenance round folds every few minutes: store/namespace_sizes.py.)
        """
        async with _ainternal.get_connection(self.conn) as conn:
            await namespace_sizes.fold(conn)

    async def setup(self) -> None:
        """The library's migrations, ours (recorded in `engram_migrations`), the queue's triggers.

        The triggers follow `kinds.messages`; a store without a message kind (a generic tool
        opening the application's database) leaves those it finds in place.
        """
        await super().setup()
        async with _ainternal.get_connection(self.conn) as conn:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS engram_migrations (v integer PRIMARY KEY)")
            cursor = await conn.execute("SELECT coalesce(max(v), -1) AS v FROM engram_migrations")
            row = await cursor.fetchone()
            done = int(row["v"] if isinstance(row, dict) else row[0]) if row else -1
            for version, statement in enumerate(MIGRATIONS):
                if version > done:
                    await conn.execute(statement)
                    await conn.execute("INSERT INTO engram_migrations (v) VALUES (%s)", (version,))
            if self.kinds.messages is not None:
                await pending_vectors.install_triggers(conn, self.kinds.messages)
            await half_precision.advise(conn)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Give puts without a TTL their kind's default, run the batch, wake the vector worker.

        Search hits come back as RankedItems (their signals off their values).
        """
        ops = [self.kinds.with_default_ttl(op) for op in ops]
        results = [_ranked_hits(result) for result in await super().abatch(ops)]
        messages = self.kinds.messages
        if self.vector_worker is not None and messages is not None and any(
                isinstance(op, PutOp) and op.value and op.value.get("kind") == messages.name
                for op in ops):
            self.vector_worker.wake()
        return results

    def _is_namespace_search(self, op: SearchOp) -> bool:
        """Whether a search is ours (hybrid, one namespace) rather than the library's."""
        return bool(op.query and op.namespace_prefix and not op.filter) and (
            (self.index_config or {}).get("distance_type", "cosine") == "cosine")

    def _prepare_batch_search_queries(
        self, search_ops: Sequence[tuple[int, SearchOp]]
    ) -> tuple[list[tuple[str, list[Any]]], list[tuple[int, str]]]:
        queries, requests = super()._prepare_batch_search_queries(search_ops)
        for index, (_, op) in enumerate(search_ops):
            if self._is_namespace_search(op):
                queries[index] = self._namespace_search(op)
        return queries, requests

    async def _batch_put_ops(
        self, put_ops: Sequence[tuple[int, PutOp]], cur: AsyncCursor[DictRow],
    ) -> None:
        """The library's batch of writes, with the new vectors sent as pgvector text."""
        queries, embedding_request = self._prepare_batch_PUT_queries(put_ops)
        if embedding_request:
            assert self.embeddings is not None, "only a store with embeddings asks for vectors"
            query, texts = embedding_request
            vectors = await self.embeddings.aembed_documents([text for *_, text in texts])
            queries.append((query, [
                param for (namespace, key, path, _), vector in zip(texts, vectors, strict=True)
                for param in (namespace, key, path, query_vector(vector))]))
        for query, params in queries:
            await cur.execute(query, params)

    async def _batch_search_ops(
        self,
        search_ops: Sequence[tuple[int, SearchOp]],
        results: list[Result],
        cur: AsyncCursor[DictRow],
    ) -> None:
        """The library's batch of searches, with the namespace searches sent as one statement.

        A turn searches the caller's namespace and their organisation's with the same query:
        one round trip, not one each. Their query vectors go as pgvector text (`query_vector`).
        """
        queries, embedding_requests = self._prepare_batch_search_queries(search_ops)
        ours = [position for position, (_, op) in enumerate(search_ops)
                if self._is_namespace_search(op)]
        if embedding_requests and self.embeddings:
            vectors = await self.embeddings.aembed_documents(
                [query for _, query in embedding_requests])
            for (position, _), vector in zip(embedding_requests, vectors, strict=True):
                params = queries[position][1]
                value = query_vector(vector) if position in ours else vector
                queries[position] = (queries[position][0], [
                    value if param is PLACEHOLDER else param for param in params])
        for position, (index, _) in enumerate(search_ops):
            if position not in ours:  # the library's own search, as it runs it
                await cur.execute(*queries[position])
                results[index] = self._search_items(await cur.fetchall())
        for refresh in (False, True):  # a statement refreshes TTLs for all its rows or none
            group = [p for p in ours if bool(search_ops[p][1].refresh_ttl) == refresh]
            if group:
                await self._namespace_searches(search_ops, queries, group, refresh, results,
                                               cur)

    async def _namespace_searches(
        self, search_ops: Sequence[tuple[int, SearchOp]], queries: list[tuple[str, list[Any]]],
        group: list[int], refresh: bool, results: list[Result], cur: AsyncCursor[DictRow],
    ) -> None:
        """Run these namespace searches of the batch in one statement, and share out the rows."""
        statement = " UNION ALL ".join(
            _EACH.format(index=number, search=queries[position][0])
            for number, position in enumerate(group))
        await cur.execute(_REFRESH.format(search=statement) if refresh else statement,
                          [param for position in group for param in queries[position][1]])
        rows = await cur.fetchall()
        for number, position in enumerate(group):
            # Best first, as each search ordered its own (a union keeps no order of its parts):
            # `ORDER BY score DESC` puts a NULL score first.
            mine = sorted((row for row in rows if row["engram_search"] == number),
                          key=lambda row: (row["score"] is not None, -(row["score"] or 0.0)))
            results[search_ops[position][0]] = self._search_items(mine)

    def _search_items(self, rows: Sequence[Any]) -> list[SearchItem]:
        return [_row_to_search_item(_decode_ns_bytes(row["prefix"]), row,
                                    loader=self._deserializer) for row in rows]

    def _namespace_search(self, op: SearchOp) -> tuple[str, list[Any]]:
        expiry = (
            "AND (store.expires_at IS NULL OR store.expires_at > NOW())"
            if self._omit_expired else ""
        )
        sql = _SEARCH_SQL.format(
            match=MATCH, expiry=expiry, count_max=COUNT_MAX,
            scope_vectors=namespace_sizes.SCOPE_VECTORS.format(scope="scope"),
            exact_max=EXACT_MAX,
            config=TEXT_SEARCH_CONFIG, lexical_max=LEXICAL_MAX, pool=max(POOL, op.limit + op.offset),
            k1=BM25_K1, b=BM25_B, one_minus_b=1 - BM25_B,
            relevance=FUSIONS[FUSION].format(dense_weight=1 - LEXICAL_WEIGHT,
                                             lexical_weight=LEXICAL_WEIGHT),
            importance_weight=IMPORTANCE_WEIGHT,
            recency_weight=RECENCY_WEIGHT, half_life_days=RECENCY_HALF_LIFE_DAYS,
            kind_case=kind_case(self.kinds.rank_bonus), superseded_penalty=SUPERSEDED_PENALTY,
            # Without a message kind nothing is a message: no thread, place or speaker.
            messages=sql_text(self.kinds.messages.name) if self.kinds.messages else "NULL",
            neighbour_share=NEIGHBOUR_SHARE,
            speaker_share=SPEAKER_SHARE,
        )
        words = query_words(op.query or "")
        # The library fills in the query's vector where it finds PLACEHOLDER, after embedding.
        values = {"vector": PLACEHOLDER, "ns": ".".join(op.namespace_prefix), "query": op.query,
                  "limit": op.limit, "offset": op.offset, "words": words,
                  "about": asked_about(words)}
        params = [values[name] for name in _SEARCH_PARAMS]
        return sql, params  # the batch adds the TTL refresh (_namespace_searches)
