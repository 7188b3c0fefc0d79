"""An OpenAI-compatible chat endpoint that follows a script written in the user's message.

The one thing the tests cannot run offline is a hosted chat model; this stands in for it behind
the real `langchain-openai` client (so `bind_tools`, tool schemas and tool results travel the
way they do with OpenAI). It is deterministic and records every request it was sent:

- a request with a `response_format` (structured extraction) is answered `{"memories": []}`;
- with tools bound (and `tool_choice` not "none"), a last user message `call <tool> <json>` is
  answered with that tool call;
- a last message that is a tool result is answered `Found: <the result>` (so a test sees what
  reached the model);
- anything else is answered `OK`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _reply(body: dict[str, Any]) -> dict[str, Any]:
    """The assistant message for a chat-completions request (see the module's docstring)."""
    if body.get("response_format"):
        return {"role": "assistant", "content": json.dumps({"memories": []})}
    messages = body.get("messages") or [{}]
    last = messages[-1]
    tools = [tool["function"]["name"] for tool in body.get("tools") or []]
    text = last.get("content") if isinstance(last.get("content"), str) else ""
    if tools and body.get("tool_choice") != "none" and last.get("role") == "user" \
            and text.startswith("call "):
        _, name, arguments = text.split(" ", 2)
        return {"role": "assistant", "content": None, "tool_calls": [{
            "id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
            "function": {"name": name, "arguments": arguments}}]}
    if last.get("role") == "tool":
        return {"role": "assistant", "content": f"Found: {last.get('content')}"}
    return {"role": "assistant", "content": "OK"}


class FakeOpenAI:
    """The endpoint, on a free local port, in a thread; `requests` holds every body it got."""

    def __init__(self) -> None:
        """Bind a free port; call start()."""
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the standard library's name
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                fake.requests.append(body)
                message = _reply(body)
                finish = "tool_calls" if message.get("tool_calls") else "stop"
                if body.get("stream"):
                    self._stream(body, message, finish)
                    return
                payload = json.dumps({
                    "id": f"chatcmpl-{uuid.uuid4().hex[:8]}", "object": "chat.completion",
                    "created": int(time.time()), "model": body.get("model", "fake"),
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _stream(self, body: dict[str, Any], message: dict[str, Any], finish: str) -> None:
                delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
                if message.get("tool_calls"):
                    delta["tool_calls"] = [{**call, "index": i}
                                           for i, call in enumerate(message["tool_calls"])]
                chunks = [{"index": 0, "delta": delta, "finish_reason": None},
                          {"index": 0, "delta": {}, "finish_reason": finish}]
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                for choice in chunks:
                    event = {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                             "created": int(time.time()), "model": body.get("model", "fake"),
                             "choices": [choice]}
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/v1"

    def start(self) -> None:
        """Serve in a daemon thread."""
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Stop serving."""
        self.http.shutdown()

    def tool_names(self) -> set[str]:
        """The names of every tool any request bound."""
        return {tool["function"]["name"] for body in self.requests for tool in body.get("tools") or []}
