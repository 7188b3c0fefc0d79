"""Writing memory: extraction, reconciliation, the ledger and the approval gate, import, erasure."""
