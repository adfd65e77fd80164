"""The Ray executor for batch jobs: the same chunks as the local executor, run by an actor pool.

    ray.data.from_items([{"chunk": k} for k in pending])
        .map_batches(ChunkWorker, compute=ActorPoolStrategy(size=num_workers),
                     batch_size=1, num_cpus=…, num_gpus=gpus_per_worker)

Each actor loads the model once (`ChunkWorker.__init__`), then for each chunk it is handed it
reads the chunk's rows itself (from the shared path or S3), runs them through `process_chunk` —
the very function the local executor uses, with the same batches and seeds — and returns the
chunk's rows. The driver streams results as they finish and commits each chunk (manifest.py),
so exactly-once and resume work as with the local executor, and a job can be started on one
executor and finished on the other.

How the model reaches the workers: the driver pins the model (Hub commit sha, or the converted
file's hash) before starting, and each actor loads that exact revision by name — from the
embedded package, the node's Hugging Face cache (downloaded on first use), or a local path that
must exist on every node (a shared filesystem).
"""

from __future__ import annotations

import contextlib
import os
import pickle
from typing import Any

from ..errors import DependencyError, JobError

# Settings forwarded to the workers (never credentials: those come from each node's own env).
_FORWARD_ENV = (
    "PRETRAINED_HOME",
    "PRETRAINED_CACHE",
    "HF_HOME",
    "HF_HUB_OFFLINE",
    "HF_ENDPOINT",
    "TRANSFORMERS_OFFLINE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_DEFAULT_REGION",
    "TOKENIZERS_PARALLELISM",
)


class ChunkWorker:
    """A Ray Data actor: holds the model, turns chunk numbers into result rows."""

    def __init__(self, job_blob: bytes, cpus: float) -> None:
        from .batch_tasks import get_task

        with contextlib.suppress(Exception):
            import torch

            torch.set_num_threads(max(1, int(cpus)))
        self.job = pickle.loads(job_blob)
        self.task = get_task(self.job.task)
        self.runner = self.task.load(self.job.model, self.job.options)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        from .chunks import process_chunk

        chunks, blobs = [], []
        for chunk in batch["chunk"]:
            chunk = int(chunk)
            start, stop = self.job.chunk_range(chunk)
            records = self.job.source.read(start, stop)
            rows = process_chunk(self.task, self.runner, records, self.job.batch_size, chunk)
            chunks.append(chunk)
            blobs.append(pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL))
        n = len(chunks)
        return {
            "chunk": np.array(chunks, dtype=np.int64),
            "rows": np.array(blobs, dtype=object),
            "model": np.array([self.runner.model_id] * n, dtype=object),
            "revision": np.array([self.runner.revision or ""] * n, dtype=object),
            "device": np.array([self.runner.device] * n, dtype=object),
        }


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise DependencyError(
            "--executor ray needs Ray Data, which is not installed",
            hint="pip install 'pretrained[scale]'",
        ) from exc
    return ray


def _check_reachable(address: str) -> None:
    """Fail in seconds, not minutes, when nothing listens at the address (Ray's own client
    keeps retrying for a long time)."""
    import socket

    if address == "auto":
        return
    host_port = address.split("://", 1)[-1].rstrip("/")
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        from ..errors import InvalidOptionError

        raise InvalidOptionError(
            f"'{address}' is not a Ray address",
            hint="use ray://head:10001 (Ray Client) or head:6379 (on a cluster node), or 'auto'",
        )
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise JobError(
            f"cannot join the Ray cluster at {address}: nothing answers there ({exc.strerror or exc})",
            hint="start the cluster first (ray start --head), or check the address and firewall",
        ) from exc


def _connect(ray, options, status) -> bool:
    """Join the cluster at --address, or start a local instance. → whether we started one."""
    import logging

    env = {k: os.environ[k] for k in _FORWARD_ENV if k in os.environ}
    runtime_env = {"env_vars": env}
    if ray.is_initialized():
        return False
    if options.address:
        _check_reachable(options.address)
        status(f"joining the Ray cluster at {options.address}…")
        try:
            ray.init(
                address=options.address,
                runtime_env=runtime_env,
                logging_level=logging.ERROR,
                log_to_driver=False,
            )
        except Exception as exc:  # ConnectionError, a timeout, a version mismatch …
            raise JobError(
                f"cannot join the Ray cluster at {options.address}: {exc}",
                hint="check the address (ray://head:10001 or head:6379) and that the cluster "
                "runs the same Ray and Python versions",
            ) from exc
        return False
    need = options.num_workers * options.cpus_per_worker
    status(f"starting a local Ray instance ({options.num_workers} workers)…")
    ray.init(
        num_cpus=max(os.cpu_count() or 1, need),
        num_gpus=None,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
        configure_logging=True,
        object_store_memory=512 * 1024**2,
        runtime_env=runtime_env,
    )
    return True


def _quiet_ray_data(ray) -> None:
    import logging

    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    ctx = ray.data.DataContext.get_current()
    for name in (
        "enable_progress_bars",
        "enable_operator_progress_bars",
        "print_on_execution_start",
    ):
        if hasattr(ctx, name):
            setattr(ctx, name, False)
    ctx.execution_options.preserve_order = False
    if hasattr(ctx, "verbose_stats_logs"):
        ctx.verbose_stats_logs = False


def run_on_ray(job, pending: list[int], commit, options, status) -> dict[str, Any]:
    """Process the pending chunks on Ray; commit each as it arrives. → what the workers served."""
    import signal
    import threading

    ray = _import_ray()
    main = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM) if main else None
    started = _connect(ray, options, status)  # ray.init installs its own SIGTERM handler …
    try:
        _quiet_ray_data(ray)
        from ray.data import ActorPoolStrategy

        workers = min(options.num_workers, len(pending))
        ds = ray.data.from_items([{"chunk": c} for c in pending], override_num_blocks=len(pending))
        ds = ds.map_batches(
            ChunkWorker,
            fn_constructor_kwargs={
                "job_blob": pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL),
                "cpus": options.cpus_per_worker,
            },
            compute=ActorPoolStrategy(size=workers),
            batch_size=1,
            batch_format="numpy",
            num_cpus=options.cpus_per_worker,
            num_gpus=options.gpus_per_worker or None,
            # a dead actor fails the run (no restart); committed chunks make the rerun cheap
            ray_remote_args_fn=lambda: {"max_restarts": 0},
        )
        status(f"running {len(pending)} chunks on {workers} Ray workers…")
        served: dict[str, Any] = {}
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1):
            for i, chunk in enumerate(batch["chunk"]):
                commit(int(chunk), pickle.loads(batch["rows"][i]))
                served = {
                    "model": str(batch["model"][i]),
                    "revision": str(batch["revision"][i]) or None,
                    "device": str(batch["device"][i]),
                }
        return served
    except Exception as exc:
        from ..errors import PretrainedError

        cause = getattr(exc, "cause", None)
        if isinstance(cause, PretrainedError):  # a worker's own error, unwrapped
            raise cause from exc
        if isinstance(exc, PretrainedError):
            raise
        raise JobError(
            f"the Ray job failed: {str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__}",
            hint="committed chunks are kept: rerun the same command to resume "
            "(PRETRAINED_DEBUG=1 shows the worker's traceback)",
        ) from exc
    finally:
        if started:
            ray.shutdown()
        if main and sigterm is not None:
            signal.signal(signal.SIGTERM, sigterm)  # … which must not outlive the job
