"""Control-plane metrics in the Prometheus text format (no client library needed).

Role: counters, gauges and histograms that the API, the worker, the health manager and
housekeeping update in memory, and `render()` for `GET /metrics`. `REGISTRY` is the
process-wide default (one process of `ostium serve` shows everything); components take
a registry argument so tests can use their own. Thread-safe; no I/O here. Figures that
live in the database (queue depth, stale amphorae) are collected at scrape time by the
route, through `Registry.collector`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable

Labels = tuple[str, ...]
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Labels, values: Labels, extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if float(value).is_integer() else repr(float(value))


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labelnames: Labels = ()) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = labelnames
        self.lock = threading.Lock()

    def _key(self, labels: dict[str, str]) -> Labels:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name}: labels {sorted(labels)} != {list(self.labelnames)}")
        return tuple(str(labels[n]) for n in self.labelnames)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labelnames: Labels = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self.values: dict[Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = self._key(labels)
        with self.lock:
            self.values[key] = self.values.get(key, 0.0) + amount

    def get(self, **labels: str) -> float:
        with self.lock:
            return self.values.get(self._key(labels), 0.0)

    def samples(self) -> list[str]:
        with self.lock:
            items = sorted(self.values.items())
        return [f"{self.name}{_labels(self.labelnames, k)} {_number(v)}" for k, v in items]


class Gauge(Counter):
    kind = "gauge"

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self.lock:
            self.values[key] = value


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        labelnames: Labels = (),
        buckets: Iterable[float] = DEFAULT_BUCKETS,
    ) -> None:
        super().__init__(name, help_text, labelnames)
        self.buckets = tuple(sorted(buckets))
        self.series: dict[Labels, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self.lock:
            counts, total = self.series.setdefault(key, ([0] * (len(self.buckets) + 1), [0.0]))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
            counts[-1] += 1
            total[0] += value

    def count(self, **labels: str) -> int:
        with self.lock:
            series = self.series.get(self._key(labels))
            return series[0][-1] if series else 0

    def samples(self) -> list[str]:
        out: list[str] = []
        with self.lock:
            items = sorted((k, (list(c), t[0])) for k, (c, t) in self.series.items())
        for key, (counts, total) in items:
            for bound, n in zip((*self.buckets, math.inf), counts, strict=True):
                le = f'le="{_number(bound)}"'
                out.append(f"{self.name}_bucket{_labels(self.labelnames, key, le)} {n}")
            out.append(f"{self.name}_sum{_labels(self.labelnames, key)} {_number(total)}")
            out.append(f"{self.name}_count{_labels(self.labelnames, key)} {counts[-1]}")
        return out


class Registry:
    def __init__(self) -> None:
        self.metrics: dict[str, _Metric] = {}
        self.collectors: list[Callable[[], None]] = []
        self.lock = threading.Lock()

    def _get(self, cls: type[_Metric], name: str, help_text: str, labelnames: Labels) -> _Metric:
        with self.lock:
            metric = self.metrics.get(name)
            if metric is None:
                metric = self.metrics[name] = cls(name, help_text, labelnames)
            if type(metric) is not cls or metric.labelnames != labelnames:
                raise ValueError(f"metric {name} already registered differently")
            return metric

    def counter(self, name: str, help_text: str, labelnames: Labels = ()) -> Counter:
        metric = self._get(Counter, name, help_text, labelnames)
        assert isinstance(metric, Counter)
        return metric

    def gauge(self, name: str, help_text: str, labelnames: Labels = ()) -> Gauge:
        metric = self._get(Gauge, name, help_text, labelnames)
        assert isinstance(metric, Gauge)
        return metric

    def histogram(self, name: str, help_text: str, labelnames: Labels = ()) -> Histogram:
        metric = self._get(Histogram, name, help_text, labelnames)
        assert isinstance(metric, Histogram)
        return metric

    def collector(self, collect: Callable[[], None]) -> None:
        """Run `collect` (which sets gauges) before every render."""
        with self.lock:
            self.collectors.append(collect)

    def render(self) -> str:
        with self.lock:
            collectors = list(self.collectors)
            metrics = sorted(self.metrics.values(), key=lambda m: m.name)
        for collect in collectors:
            collect()
        lines: list[str] = []
        for metric in metrics:
            lines += metric.header() + metric.samples()
        return "\n".join(lines) + "\n"


REGISTRY = Registry()
"""The process-wide default registry."""


# ---- the figures ostium keeps (names in one place) ---------------------------------


def api_requests(r: Registry) -> Counter:
    return r.counter(
        "ostium_api_requests_total",
        "API requests by method, route and status",
        ("method", "route", "status"),
    )


def api_duration(r: Registry) -> Histogram:
    return r.histogram(
        "ostium_api_request_duration_seconds", "API request latency", ("method", "route")
    )


def reconcile_duration(r: Registry) -> Histogram:
    return r.histogram(
        "ostium_reconcile_duration_seconds",
        "Worker reconciles of one load balancer, by outcome",
        ("outcome",),
    )


def heartbeats_accepted(r: Registry) -> Counter:
    return r.counter("ostium_heartbeats_accepted_total", "Heartbeats processed")


def heartbeats_dropped(r: Registry) -> Counter:
    return r.counter(
        "ostium_heartbeats_dropped_total", "Heartbeats dropped, by reason", ("reason",)
    )


def failovers(r: Registry) -> Counter:
    return r.counter(
        "ostium_failovers_total",
        "Failovers started by the health manager, and circuit-breaker stops",
        ("action",),
    )


def housekeeping_removed(r: Registry) -> Counter:
    return r.counter(
        "ostium_housekeeping_removed_total",
        "Rows purged, orphans removed and certificates rotated",
        ("what",),
    )
