"""Text work sized by its input: small texts inline, large ones in a worker process.

The LangGraph server serves every user's requests on one event loop. Scrubbing and rule
extraction are linear in the text, but 32,000 characters still take milliseconds; done inline
for a large input they would hold every other user's requests for that long. A worker thread
is not enough: Python threads share one interpreter lock, and a thread busy with one user's
texts holds it most of the time, so the loop waits for it at every step of everyone's
requests (measured: bench/neighbour.py). Large texts therefore go to one worker process, one
after the other: they take at most one core, and never the loop's lock.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ParamSpec, TypeVar

T = TypeVar("T")
P = ParamSpec("P")

OFF_LOOP_CHARS = 2_000
"""Above this many characters, text work runs in the worker (below, the hop costs more)."""
_worker: ProcessPoolExecutor | None = None


def _executor() -> ProcessPoolExecutor:
    """The worker, started on first use.

    A fork server starts it: forking the server itself, which runs threads, is unsafe; the
    worker imports only what the work needs.
    """
    global _worker
    if _worker is None:
        _worker = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("forkserver"))
    return _worker


async def sized(chars: int, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`work(*args)`, in the worker process when it reads more than OFF_LOOP_CHARS characters.

    `work` must be a module-level function (it is sent to the worker by name). A worker that
    died (killed, out of memory) is replaced once.
    """
    if chars <= OFF_LOOP_CHARS:
        return work(*args, **kwargs)
    for attempt in range(2):
        try:
            # Starting the worker and handing it work write to pipes: done from a thread, the
            # loop never blocks on them.
            future = await asyncio.to_thread(_submit, work, args, kwargs)
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            global _worker
            _worker = None
            if attempt:
                raise
    raise AssertionError("unreachable")


def _submit(work: Callable[..., T], args: tuple[object, ...],
            kwargs: dict[str, object]) -> Future[T]:
    return _executor().submit(_call, work, args, kwargs)


def _call(work: Callable[..., T], args: tuple[object, ...], kwargs: dict[str, object]) -> T:
    return work(*args, **kwargs)
