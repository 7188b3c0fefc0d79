"""Engram's persistence: embedded Postgres, checkpointer and store factories, embeddings."""
