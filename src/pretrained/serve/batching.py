"""Micro-batching: requests that arrive within a few milliseconds share one batched call.

A `MicroBatcher` wraps any function `fn(key, items) -> results` (one result per item, same
order). Callers `await batcher.submit(items, key)`; a single worker task waits up to
`max_wait_s` after the first pending request for more to arrive (or until `max_items` are
pending), then runs `fn` once in a thread on everything with the same key and hands each caller
its slice. While one batch runs, new requests pile up and form the next batch, so under load
the batch size grows by itself and the wait costs nothing.

`key` separates requests that cannot share a call (another model, other labels …). A caller
that goes away (client disconnected, timeout) cancels its future; its items are dropped if the
batch has not started yet, and a running batch is cancelled (fn runs in a cancel scope) once all
of its callers have gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from .limits import scoped


@dataclass
class _Pending:
    key: Hashable
    items: list[Any]
    future: asyncio.Future
    arrived: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    def __init__(
        self,
        fn: Callable[[Hashable, list[Any]], Sequence[Any]],
        *,
        max_items: int = 64,
        max_wait_s: float = 0.005,
        executor: Executor | None = None,
        on_batch: Callable[[int, int], None] | None = None,
        name: str = "batch",
    ) -> None:
        if max_items < 1:
            raise ValueError("max_items must be ≥ 1")
        self.fn = fn
        self.max_items = max_items
        self.max_wait_s = max(0.0, max_wait_s)
        self.executor = executor
        self.on_batch = on_batch  # (requests in the batch, items in the batch)
        self.name = name
        self._pending: deque[_Pending] = deque()
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self.batches = 0  # for tests and metrics: how many calls of fn were made

    @property
    def pending(self) -> int:
        return sum(len(p.items) for p in self._pending if not p.future.done())

    async def submit(self, items: Sequence[Any], key: Hashable = None) -> list[Any]:
        if not items:
            return []
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done():
            self._wakeup = asyncio.Event()
            self._worker = loop.create_task(self._run(), name=f"microbatch-{self.name}")
        entry = _Pending(key, list(items), loop.create_future())
        self._pending.append(entry)
        assert self._wakeup is not None
        self._wakeup.set()
        return await entry.future

    def _ready_count(self, key: Hashable) -> int:
        return sum(len(p.items) for p in self._pending if p.key == key and not p.future.done())

    def _take(self) -> list[_Pending]:
        """The oldest live request plus every later one with its key, up to max_items items
        (a single request larger than max_items goes alone, whole)."""
        while self._pending and self._pending[0].future.done():
            self._pending.popleft()  # cancelled before it ran
        if not self._pending:
            return []
        first = self._pending.popleft()
        batch, count, keep = [first], len(first.items), deque()
        while self._pending:
            entry = self._pending.popleft()
            if entry.future.done():
                continue
            if entry.key == first.key and count + len(entry.items) <= self.max_items:
                batch.append(entry)
                count += len(entry.items)
            else:
                keep.append(entry)
        self._pending = keep
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if not self._pending:
                continue
            first = self._pending[0]
            # Wait for company: until the window after the first arrival closes or the batch is full.
            while self._ready_count(first.key) < self.max_items:
                remaining = first.arrived + self.max_wait_s - time.perf_counter()
                if remaining <= 0:
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), remaining)
                self._wakeup.clear()
            batch = self._take()
            if self._pending:
                self._wakeup.set()  # leftovers (other keys, overflow) form the next batch
            if not batch:
                continue
            flat = [item for entry in batch for item in entry.items]
            self.batches += 1
            if self.on_batch:
                self.on_batch(len(batch), len(flat))
            # the batch's work stops (at the fn's next check) once every caller has gone
            cancel = threading.Event()
            futures = [entry.future for entry in batch]

            def all_gone(_, futures=futures, cancel=cancel) -> None:
                if all(f.cancelled() for f in futures):
                    cancel.set()

            for future in futures:
                future.add_done_callback(all_gone)
            try:
                results = await loop.run_in_executor(
                    self.executor, scoped, cancel, partial(self.fn, batch[0].key, flat)
                )
                if len(results) != len(flat):
                    raise RuntimeError(
                        f"{self.name}: the batched call returned {len(results)} results for "
                        f"{len(flat)} items"
                    )
            except Exception as exc:  # every caller of this batch gets the error
                for entry in batch:
                    if not entry.future.done():
                        entry.future.set_exception(exc)
                continue
            start = 0
            for entry in batch:
                part = list(results[start : start + len(entry.items)])
                start += len(entry.items)
                if not entry.future.done():
                    entry.future.set_result(part)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._worker
        while self._pending:
            entry = self._pending.popleft()
            if not entry.future.done():
                entry.future.set_exception(RuntimeError("the server is shutting down"))
