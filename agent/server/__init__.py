"""The server edge: auth, tokens, HTTP routes, validation, erasure and metrics."""
