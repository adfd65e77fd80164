"""One chunk of a batch job through a task's runner: the same code on the local executor
(batch.py) and on Ray's workers (ray_executor.py)."""

from __future__ import annotations

from typing import Any

from .batch_tasks import BatchTask, Runner


def _check_value(task: BatchTask, value: Any) -> tuple[Any, str | None]:
    if task.input_kind == "audio":
        return (value, None) if value not in (None, "", b"") else (None, "no audio in this row")
    if isinstance(value, bool) or value is None:
        return None, "empty text" if value is None else "not text"
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        return None, f"not text ({type(value).__name__})"
    if not value.strip():
        return None, "empty text"
    return value, None


def _error_text(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(f"{type(exc).__name__}: {message}".split())[:500]


def process_chunk(task: BatchTask, runner: Runner, records: list, batch_size: int, chunk: int):
    """→ one output row per record, in input order. Bad inputs and failed rows get `error`;
    if every model call of the chunk failed, the first failure is raised (a broken model must
    stop the job, not write millions of error rows)."""
    rows: list[dict[str, Any] | None] = [None] * len(records)
    good: list[tuple[int, Any]] = []
    for pos, rec in enumerate(records):
        value, problem = (None, rec.error) if rec.error else _check_value(task, rec.value)
        if problem:
            rows[pos] = {"id": rec.id, "error": problem}
        else:
            good.append((pos, value))
    calls = failures = 0
    first_failure: BaseException | None = None
    for number, start in enumerate(range(0, len(good), batch_size)):
        part = good[start : start + batch_size]
        seed_key = chunk * 100_003 + number
        try:
            calls += 1
            results: list[Any] = runner.run([v for _, v in part], seed_key)
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:
            failures += 1
            first_failure = first_failure or exc
            if len(part) == 1:
                results = [exc]
            else:  # retry one by one so a single bad row does not fail its neighbours
                results = []
                for _, value in part:
                    try:
                        results.extend(runner.run([value], seed_key))
                    except (KeyboardInterrupt, MemoryError):
                        raise
                    except Exception as single:
                        results.append(single)
                if any(not isinstance(r, BaseException) for r in results):
                    failures -= 1
        for (pos, _), result in zip(part, results, strict=True):
            rec = records[pos]
            if isinstance(result, BaseException):
                rows[pos] = {"id": rec.id, "error": _error_text(result)}
            else:
                rows[pos] = {"id": rec.id, **result, "error": None}
    if calls and failures == calls and first_failure is not None:
        raise first_failure
    return rows
