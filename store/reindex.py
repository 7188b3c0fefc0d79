"""Re-embed every memory with the configured embedding model: `python -m store.reindex`.

Needed when EMBEDDINGS changes to a model of another vector size: the store refuses to start on
a mismatch rather than mix vectors of two models. This resizes the vector column, re-puts every
item through the store so the library embeds the same fields again (an item that had no
vector gets none), and rebuilds the large namespaces' own HNSW indexes.
"""

from __future__ import annotations

import asyncio
import sys

from langgraph.store.base import Item, PutOp
from psycopg import sql

from store import half_precision, vector_indexes
from store.database import connection_pool, database_url
from store.embeddings import EmbeddingModel
from store.postgres import configured_model, require_pgvector
from store.search import COVERING_INDEX, MemoryStore

PAGE = 500


async def reindex(url: str, model: EmbeddingModel) -> int:
    """Resize the vectors to `model.dims`, re-embed every item, return how many."""
    async with connection_pool(url) as pool:
        await require_pgvector(pool)
        async with pool.connection() as conn, conn.transaction():
            # Which fields each item had embedded (most their text, messages another; none
            # for records kept out of search), so each is re-embedded the same way.
            rows = await (await conn.execute(
                "SELECT prefix, key, field_name FROM store_vectors")).fetchall()
            fields: dict[tuple[str, str], list[str]] = {}
            for row in rows:
                fields.setdefault((row["prefix"], row["key"]), []).append(row["field_name"])
            # Large namespaces' own HNSW indexes go too; they are rebuilt at the new size below.
            for name in await vector_indexes.built_indexes(pool):
                await conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
            await conn.execute("DELETE FROM store_vectors")
            stored, _ = await half_precision.stored_type(conn)  # full or half precision, kept
            await conn.execute(
                f"ALTER TABLE store_vectors ALTER COLUMN embedding TYPE {stored}({int(model.dims)})"
            )
            # The covering index holds vectors only up to a size: re-decided for the new one.
            await conn.execute(COVERING_INDEX)
        store = MemoryStore(pool, index=model.index_config())
        await store.setup()  # the library's schema and Engram's (sizes kept, word index...)
        count = 0
        for namespace in await store.alist_namespaces(limit=1_000_000):
            # Read the whole namespace first: each re-put moves an item in the listing order.
            items: list[Item] = []
            while page := await store.asearch(namespace, limit=PAGE, offset=len(items)):
                items += page
            prefix = ".".join(namespace)
            puts = [PutOp(namespace, i.key, i.value, index=fields.get((prefix, i.key), False))
                    for i in items if i.namespace == namespace]
            for start in range(0, len(puts), PAGE):
                await store.abatch(puts[start : start + PAGE])
            count += len(puts)
        await vector_indexes.maintain(pool)
        return count


async def main() -> int:
    """Re-embed the memories of DATABASE_URL (or the embedded Postgres) with EMBEDDINGS."""
    model = configured_model()
    count = await reindex(await database_url(), model)
    print(f"re-embedded {count} memories with {model.name} ({model.dims}-d)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
