"""Every count and size limit of the memory service, in one place.

Each way in (the graph, the HTTP store API, the console, MCP, Mem0's routes, import, the
model's tools) is held to these by the service's checks, so no door has limits of its own.
"""

from __future__ import annotations

MAX_LISTED = 200
"""The most memories, conversations or episodes one call returns."""
MAX_SCANNED = 1_000
"""The most memories a filtered call (search, listing, delete by filter) looks through."""
MAX_STORE_SEARCH = 1_000
"""The most items one search of the HTTP store API returns."""
MAX_TOOL_RESULTS = 50
"""The most memories one MCP or model tool call returns."""
MAX_STATE_MEMORIES = 50
"""The most retrieved memories a thread's state may hold (a fork or a Studio edit)."""

MAX_STATED = 100
"""The most texts one stated write (Mem0's `infer: false` add) keeps."""

MAX_FILTER_PARTS = 32
"""The most conditions and AND/OR/NOT groups one filter may have, counted before any is read."""
MAX_FILTER_DEPTH = 6
"""The deepest nesting of AND/OR/NOT groups in one filter."""
MAX_FILTER_VALUES = 50
"""The most values one `in` condition lists."""

MAX_METADATA_KEYS = 16
"""The most fields a memory's metadata has."""
MAX_METADATA_KEY_CHARS = 64
"""The longest metadata field name."""
MAX_METADATA_VALUE_CHARS = 500
"""The longest metadata string value (scrubbed like any stored text)."""
MAX_SCOPE_ID_CHARS = 200
"""The longest agent, app or run id a memory is kept under."""

MAX_SUB_NAMESPACES = 20
"""The most namespaces a member may write below their own (each may get its own index)."""
MAX_NAMESPACE_LABEL_CHARS = 64
"""The longest label of a namespace a member writes below their own."""
