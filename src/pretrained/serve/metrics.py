"""Prometheus metrics for one app (its own registry, so several apps can live in one process,
as they do in tests). Route labels are route templates, never raw paths (bounded cardinality)."""

from __future__ import annotations

from typing import Any


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "pretrained_requests_total",
            "HTTP requests by route, method and status code",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "pretrained_request_duration_seconds",
            "Request latency (until the last byte, streams included)",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=self.registry,
        )
        self.inflight = Gauge(
            "pretrained_requests_in_flight",
            "Inference requests holding a slot",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "pretrained_queue_depth",
            "Inference requests waiting for a slot",
            registry=self.registry,
        )
        self.rejected = Counter(
            "pretrained_rejected_total",
            "Requests refused before running, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "pretrained_tokens_total",
            "Tokens processed, by kind (prompt | completion) and task",
            ["kind", "task"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "pretrained_batch_items",
            "Items per micro-batched call",
            ["task"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )
        self.model_loaded = Gauge(
            "pretrained_model_loaded",
            "1 when the model for a task is loaded",
            ["task", "model"],
            registry=self.registry,
        )

    def count_tokens(self, task: str, prompt: int | None = 0, completion: int | None = 0) -> None:
        if prompt:
            self.tokens.labels("prompt", task).inc(prompt)
        if completion:
            self.tokens.labels("completion", task).inc(completion)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def route_label(scope: dict[str, Any]) -> str:
    """The route template a request matched (e.g. /v1/chat/completions), or a coarse bucket."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path:
        return path
    raw = scope.get("path", "")
    if raw.startswith("/v1/"):
        return "/v1/other"
    return "ui"
