"""The memory model: kinds, namespaces, stored values and episodes, and what may be written."""
