"""Vectors stored at half precision (pgvector's `halfvec`): half the bytes, the same search.

A 384-d vector takes 1,544 bytes as `vector` (float4) and 776 as `halfvec` (float2), and every
vector is held twice (the table and the covering index, store/search.py), so half precision saves
about 1,800 bytes a memory, a third of what one takes, and the HNSW graphs of large namespaces
shrink with it. Cosine similarity over half-precision vectors ranks nearly as over full ones
(BENCHMARKS.md, section J: recall@10 0.9995 against the float32 top 10).

A new store's vectors are half precision from the start: the store's migration (`MIGRATION`)
changes the column while the table is empty. A populated store keeps `vector` until it is
converted online, with the servers running: `python -m store.convert_vectors`. Everything else
works on either: what a search sends stays a `vector`, and `engram_stored_vector()` converts it
once to the stored type (a `vector` query against `halfvec` rows would be converted row by row);
indexes are built with the stored type's operator class (`operator_class`).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from store import vector_partitions

logger = logging.getLogger(__name__)

STORED_TYPE = """
SELECT format_type(atttypid, NULL) AS type, atttypmod AS dims FROM pg_attribute
WHERE attrelid = to_regclass('store_vectors') AND attname = 'embedding'
"""

# The migration: the function a search converts its query vector with, for the column as it is;
# an empty table's column is changed now (an instant change), a populated one's by
# store/convert_vectors.py.
MIGRATION = r"""
DO $$
DECLARE
    dims integer := (SELECT atttypmod FROM pg_attribute
                     WHERE attrelid = to_regclass('store_vectors') AND attname = 'embedding');
    own text;
BEGIN
    IF to_regprocedure('engram_stored_vector(vector)') IS NULL THEN
        CREATE FUNCTION engram_stored_vector(v vector) RETURNS vector
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN v;
    END IF;
    IF dims > 0 AND NOT EXISTS (SELECT 1 FROM store_vectors) THEN
        FOR own IN SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                   WHERE i.indrelid = 'store_vectors'::regclass
                     AND c.relname LIKE 'engram\_ns\_hnsw\_%' LOOP
            EXECUTE format('DROP INDEX %I', own);
        END LOOP;
        EXECUTE format('ALTER TABLE store_vectors ALTER COLUMN embedding TYPE halfvec(%s)', dims);
        DROP FUNCTION engram_stored_vector(vector);
        CREATE FUNCTION engram_stored_vector(v vector) RETURNS halfvec
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN v::halfvec;
    END IF;
END $$
"""


async def stored_type(conn: psycopg.AsyncConnection[Any]) -> tuple[str, int]:
    """The stored vectors' type (`vector` or `halfvec`) and size."""
    row = await (await conn.execute(STORED_TYPE)).fetchone()
    if row is None:
        raise RuntimeError("no store_vectors table: open the store once (its setup creates it)")
    return str(row["type"]), int(row["dims"])


async def advise(conn: psycopg.AsyncConnection[Any]) -> None:
    """Log how to convert a populated store whose vectors are in an older layout.

    (Full precision, or one table not partitioned by namespace: store/vector_partitions.py.)
    """
    kind, _ = await stored_type(conn)
    if (kind == "vector" or not await vector_partitions.is_partitioned(conn)) and await (
            await conn.execute("SELECT 1 FROM store_vectors LIMIT 1")).fetchone():
        logger.warning("the store's vectors are in an older layout: `python -m "
                       "store.convert_vectors` converts them online (half precision: BENCHMARKS.md "
                       "J3; partitions by namespace: J4)")


def operator_class(stored: str) -> str:
    """The HNSW operator class of cosine distance over the stored type."""
    return "halfvec_cosine_ops" if stored == "halfvec" else "vector_cosine_ops"
