"""Import conversation history for one user from a file, for operators.

    python -m agent.server.import_cli history.json --user alice@example.com [--org acme]

The file holds what `POST /engram/import` takes: `{"sessions": [{"id", "date", "messages"}]}`.
It runs the same path (MemoryService.import_history) against the store the server uses
(DATABASE_URL, else the embedded Postgres), shows progress on stderr and prints the counts as
JSON. Sending the same file again imports nothing new.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from agent.memory.model.schema import LOCAL, Identity
from agent.memory.service import MemoryService


class Progress:
    """A one-line progress bar on stderr: messages done of the total, and the rate."""

    def __init__(self, total: int) -> None:
        """Start counting towards `total` messages."""
        self.total, self.done, self.started = total, 0, time.monotonic()

    def __call__(self, turns: int) -> None:
        """Count `turns` more messages and redraw."""
        self.done += turns
        share = self.done / max(self.total, 1)
        rate = self.done / max(time.monotonic() - self.started, 1e-9)
        bar = "#" * int(share * 30)
        print(f"\r[{bar:<30}] {self.done}/{self.total} messages, {rate:.0f}/s", end="",
              file=sys.stderr, flush=True)
        if self.done >= self.total:
            print(file=sys.stderr)


async def run(path: Path, identity: Identity) -> int:
    """Check the file, then import it; the exit status says whether it worked."""
    from agent.stores import store

    try:
        body = json.loads(path.read_text())
        total = MemoryService.messages_in(body)
    except (OSError, ValueError) as err:
        print(f"cannot import {path}: {err}", file=sys.stderr)
        return 2
    async with store() as memory_store:
        memory = MemoryService(memory_store, identity)
        report = await memory.import_history(body, progress=Progress(total))
        # Every episode is found by meaning once this returns (the worker embeds meanwhile).
        await memory.fill_vectors()
    print(json.dumps(report.as_dict()))
    return 0


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="JSON file: {'sessions': [...]}")
    parser.add_argument("--user", required=True, help="the user whose memory receives it")
    parser.add_argument("--org", default=LOCAL.org_id, help="the user's organisation")
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.file, Identity(user_id=args.user, org_id=args.org))))


if __name__ == "__main__":
    main()
