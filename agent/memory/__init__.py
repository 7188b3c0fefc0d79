"""The memory engine: what a memory is, how it is learned, reconciled, stored and found."""
