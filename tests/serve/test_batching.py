"""The generic micro-batcher: requests arriving together share one call."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from pretrained.serve.batching import MicroBatcher


class Recorder:
    def __init__(self, delay: float = 0.0, fail_on: str | None = None) -> None:
        self.calls: list[tuple] = []
        self.delay = delay
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def __call__(self, key, items):
        with self.lock:
            self.calls.append((key, list(items)))
        if self.fail_on in items:
            raise ValueError(f"bad item {self.fail_on}")
        time.sleep(self.delay)
        return [f"{key}:{item}" for item in items]


def run(coro):
    return asyncio.run(coro)


def test_requests_arriving_together_share_one_call():
    fn = Recorder()

    async def main():
        batcher = MicroBatcher(fn, max_items=64, max_wait_s=0.05)
        results = await asyncio.gather(*(batcher.submit([f"a{i}", f"b{i}"]) for i in range(10)))
        await batcher.close()
        return results

    results = run(main())
    assert results == [[f"None:a{i}", f"None:b{i}"] for i in range(10)]
    assert len(fn.calls) == 1 and len(fn.calls[0][1]) == 20


def test_max_items_splits_batches_without_splitting_requests():
    fn = Recorder()

    async def main():
        batcher = MicroBatcher(fn, max_items=4, max_wait_s=0.05)
        out = await asyncio.gather(
            *(batcher.submit([i, i]) for i in range(5)), batcher.submit(list(range(9)))
        )
        await batcher.close()
        return out

    out = run(main())
    assert out[5] == [f"None:{i}" for i in range(9)]  # larger than max_items: alone, whole
    assert all(len(items) <= 4 or items == list(range(9)) for _, items in fn.calls)
    assert sum(len(items) for _, items in fn.calls) == 19


def test_keys_never_mix():
    fn = Recorder()

    async def main():
        batcher = MicroBatcher(fn, max_items=64, max_wait_s=0.05)
        out = await asyncio.gather(
            batcher.submit(["x"], key="k1"),
            batcher.submit(["y"], key="k2"),
            batcher.submit(["z"], key="k1"),
        )
        await batcher.close()
        return out

    assert run(main()) == [["k1:x"], ["k2:y"], ["k1:z"]]
    assert sorted(fn.calls) == [("k1", ["x", "z"]), ("k2", ["y"])]


def test_an_error_reaches_every_caller_of_that_batch_only():
    fn = Recorder(fail_on="bad")

    async def main():
        batcher = MicroBatcher(fn, max_items=64, max_wait_s=0.05)
        out = await asyncio.gather(
            batcher.submit(["ok"]), batcher.submit(["bad"]), return_exceptions=True
        )
        later = await batcher.submit(["fine"])
        await batcher.close()
        return out, later

    out, later = run(main())
    assert all(isinstance(o, ValueError) for o in out)
    assert later == ["None:fine"]  # the worker survives a failed batch


def test_cancelled_requests_are_dropped_before_the_call():
    fn = Recorder(delay=0.2)

    async def main():
        batcher = MicroBatcher(fn, max_items=64, max_wait_s=0.01)
        first = asyncio.ensure_future(batcher.submit(["first"]))
        await asyncio.sleep(0.05)  # the first batch is running now
        gone = asyncio.ensure_future(batcher.submit(["gone"]))
        kept = asyncio.ensure_future(batcher.submit(["kept"]))
        await asyncio.sleep(0)
        gone.cancel()
        out = await asyncio.gather(first, kept)
        await batcher.close()
        return out

    assert run(main()) == [["None:first"], ["None:kept"]]
    assert [items for _, items in fn.calls] == [["first"], ["kept"]]


def test_requests_that_arrive_while_a_batch_runs_form_the_next_batch():
    fn = Recorder(delay=0.1)

    async def main():
        batcher = MicroBatcher(fn, max_items=64, max_wait_s=0.0)
        first = asyncio.ensure_future(batcher.submit([0]))
        await asyncio.sleep(0.02)
        rest = [asyncio.ensure_future(batcher.submit([i])) for i in range(1, 8)]
        await asyncio.gather(first, *rest)
        await batcher.close()

    run(main())
    assert [len(items) for _, items in fn.calls] == [1, 7]


def test_wrong_result_count_is_an_error():
    async def main():
        batcher = MicroBatcher(lambda key, items: items[:-1], max_wait_s=0)
        with pytest.raises(RuntimeError, match="returned 1 results for 2 items"):
            await batcher.submit([1, 2])
        await batcher.close()

    run(main())
