"""Text work sized by its input: small texts inline, large ones in a worker process.

The LangGraph server serves every user's requests on one event loop. Scrubbing and rule
extraction are linear in the text, but 32,000 characters still take milliseconds; done inline
for a large input they would hold every other user's requests for that long. A worker thread
is not enough: Python threads share one interpreter lock, and a thread busy with one user's
texts holds it most of the time, so the loop waits for it at every step of everyone's
requests (measured: bench/neighbour.py). Large texts therefore go to one worker process, one
after the other: they take at most one core, and never the loop's lock.

The worker is shared fairly: each owner (the user a text belongs to, `owned_by`) has at most
one text in its queue at a time, so one user's thousand large texts wait behind each other,
not in front of another user's one (who waits for at most one text of each other user).
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

T = TypeVar("T")
P = ParamSpec("P")

OFF_LOOP_CHARS = 2_000
"""Above this many characters, text work runs in the worker (below, the hop costs more)."""
_worker: ProcessPoolExecutor | None = None
_owner: ContextVar[str] = ContextVar("engram_text_owner", default="")
_lanes: dict[str, asyncio.Lock] = {}
_waiting: Counter[str] = Counter()


@contextmanager
def owned_by(owner: str) -> Iterator[None]:
    """Count the text work done inside (tasks started inside too) as `owner`'s."""
    token = _owner.set(owner)
    try:
        yield
    finally:
        _owner.reset(token)


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
    owner = f"{id(asyncio.get_running_loop())}/{_owner.get()}"  # a lock serves one loop
    lane = _lanes.setdefault(owner, asyncio.Lock())
    _waiting[owner] += 1
    try:
        async with lane:  # one text of each owner in the worker's queue at a time
            return await _in_worker(work, args, kwargs)
    finally:
        _waiting[owner] -= 1
        if not _waiting[owner]:
            del _waiting[owner], _lanes[owner]


async def _in_worker(work: Callable[..., T], args: tuple[object, ...],
                     kwargs: dict[str, object]) -> T:
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
