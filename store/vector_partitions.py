"""`store_vectors` split by namespace into hash partitions: a namespace's index build reads one.

A large namespace's own HNSW index (store/vector_indexes.py) is a partial index, and Postgres
builds any index by reading its whole table: on one table, each build read every user's vectors
(3.6 s for a 10,000-memory namespace in 1M rows, growing with the table). Partitioned by a hash
of the namespace (`prefix`), the index is built on the namespace's partition and reads a
`PARTITIONS`-th of the table; a search names its namespace, so Postgres reads that partition
only. Every row of a namespace lives in one partition, so nothing about a search changes.

A new store's table is partitioned by its migration (`migration`), while it is empty. A
populated store keeps one table until it is converted online, with the servers running:
`python -m store.convert_vectors` (half precision and partitions in one pass). Everything else
works on either layout: the table's indexes and triggers are defined on `store_vectors`, and
Postgres gives each partition its own copy of the indexes.
"""

from __future__ import annotations

from typing import Any

import psycopg

from store import namespace_sizes

PARTITIONS = 64
"""Hash partitions of `store_vectors`. A build reads its namespace's partition: at 10M memories
156,000 vectors, about as many as a whole 3M-row table's sixteenth. A search plans and opens its
namespace's partition alone, so the count costs it nothing measurable (16 and 64 alike in a trial);
a new store's setup takes 0.3 s instead of 0.17 (its tables and indexes are made)."""

# One definition of the partitioned table, for a new store's migration and for the conversion's
# copy: the library's columns (langgraph's store_vectors) at half precision, its keys, and the
# index a namespace's exact search reads (store/search.py: covering up to `covering_max` dims).
# Partitions are named `<partitions_of>_pNN` (store_vectors_p00, ...), and Postgres names their
# indexes after them: a conversion's copy gets its final names from the start.
_CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION engram_create_vector_table(name text, dims integer, parts integer,
                                                      covering boolean, partitions_of text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'CREATE TABLE %1$I (prefix text NOT NULL, key text NOT NULL, field_name text NOT NULL, '
        'embedding halfvec(%2$s), '
        'created_at timestamptz DEFAULT CURRENT_TIMESTAMP, '
        'updated_at timestamptz DEFAULT CURRENT_TIMESTAMP, '
        'CONSTRAINT %3$I PRIMARY KEY (prefix, key, field_name), '
        'CONSTRAINT %4$I FOREIGN KEY (prefix, key) REFERENCES store (prefix, key) '
        'ON DELETE CASCADE) PARTITION BY HASH (prefix)',
        name, dims, name || '_pkey', name || '_prefix_key_fkey');
    FOR part IN 0 .. parts - 1 LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES WITH (MODULUS %s, REMAINDER %s)',
                       partitions_of || '_p' || lpad(part::text, 2, '0'), name, parts, part);
    END LOOP;
    IF covering THEN
        EXECUTE format('CREATE INDEX %I ON %I (prefix text_pattern_ops, key) INCLUDE (embedding)',
                       name || '_namespace_idx', name);
    ELSE
        EXECUTE format('CREATE INDEX %I ON %I (prefix text_pattern_ops)',
                       name || '_prefix_idx', name);
    END IF;
END $$
"""


def migration(covering_max_dims: int) -> tuple[str, str]:
    """The migration: the table's definition; an empty, unpartitioned table is partitioned now.

    (A new store's table is empty; a populated one is converted by store/convert_vectors.py.)
    """
    return _CREATE_FUNCTION, f"""
DO $$
DECLARE
    dims integer := (SELECT atttypmod FROM pg_attribute
                     WHERE attrelid = to_regclass('store_vectors') AND attname = 'embedding');
BEGIN
    IF dims > 0 AND NOT EXISTS (SELECT 1 FROM pg_partitioned_table
                                WHERE partrelid = 'store_vectors'::regclass)
       AND NOT EXISTS (SELECT 1 FROM store_vectors) THEN
        DROP TABLE store_vectors;
        PERFORM engram_create_vector_table('store_vectors', dims, {PARTITIONS},
                                           dims <= {covering_max_dims}, 'store_vectors');
        {"; ".join(namespace_sizes.VECTOR_TRIGGERS)};
        DROP FUNCTION engram_stored_vector(vector);
        CREATE FUNCTION engram_stored_vector(v vector) RETURNS halfvec
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN v::halfvec;
    END IF;
END $$
"""


TABLES = """
SELECT 'store_vectors'::regclass AS id
UNION ALL SELECT inhrelid FROM pg_inherits WHERE inhparent = 'store_vectors'::regclass
"""
"""SQL: `store_vectors` and its partitions (an index of one namespace is on one of them)."""


async def is_partitioned(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Whether `store_vectors` is partitioned by namespace."""
    row = await (await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table "
        "WHERE partrelid = to_regclass('store_vectors')) AS partitioned")).fetchone()
    return bool(row and row["partitioned"])


async def table_of(conn: psycopg.AsyncConnection[Any], prefix: str) -> str | None:
    """The table holding a namespace's vectors: its partition, or `store_vectors` itself.

    None if the namespace has none.
    """
    row = await (await conn.execute(
        "SELECT c.relname AS name FROM pg_class c "
        "WHERE c.oid = (SELECT tableoid FROM store_vectors WHERE prefix = %s LIMIT 1)",
        (prefix,))).fetchone()
    return str(row["name"]) if row else None
