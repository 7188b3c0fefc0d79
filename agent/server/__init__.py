"""The server edge: auth, tokens, routes (thin adapters over MemoryService), validation."""
