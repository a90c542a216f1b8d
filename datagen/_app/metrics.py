"""Metrics of a dataset, the seed's interface: ``datagen.metrics.compute(results, ...)``.

Each metric is a plugin of the ``metric`` family (``datagen plugins --all`` lists them). A metric that
cannot run (a missing optional dependency, no text, no model) is reported as ``{"skipped": reason}``
and never stops the others. ``compare`` computes the same metrics on two datasets and their differences.
Plots: :mod:`datagen.metrics.visualization`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from datagen._datamodel.config import DatagenConfig, as_config
from datagen._datamodel.records import Record
from datagen._datamodel.results import Results
from datagen._kernel.manager import PluginManager, load_plugins_for
from datagen.errors import UsageError
from datagen.log import get_logger


def default_metrics(pm: PluginManager) -> list[str]:
    """What ``compute`` runs when neither ``metrics`` nor ``[metric] run`` names any: the metric
    plugins that declare a ``default`` position (stats 1, diversity 2, readability 3, topics 4), in
    that order, then by name."""
    ranked = [(int(getattr(e.obj, "default", 0) or 0), e.name) for e in pm.registry("metric")]
    return [name for rank, name in sorted(ranked) if rank > 0]


Source = Results | Iterable[Record] | str | os.PathLike[str]


def _results(source: Source) -> Results:
    if isinstance(source, Results):
        return source
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
        return Results.scan(path)
    return Results(list(source))


def compute(
    results: Source,
    metrics: Sequence[str] | None = None,
    *,
    config: DatagenConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    plugins: PluginManager | None = None,
) -> dict[str, dict[str, Any]]:
    """Each named metric's values on ``results`` (a Results, records, or a JSONL/Parquet path), by name;
    ``metrics`` defaults to ``[metric] run``, else stats, diversity, readability and topics."""
    cfg = as_config(config)
    pm = plugins or load_plugins_for(cfg)
    registry = pm.registry("metric")
    names = list(metrics or cfg.metric.run or default_metrics(pm))
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise UsageError(f"unknown metric(s) {', '.join(unknown)}; registered: {', '.join(registry.names())}")
    data = _results(results)
    instances = {name: _instance(registry.get(name), cfg, name) for name in names}
    found = _in_parallel(instances, data) if _parallel_ok(names, data) else {}
    return {name: found[name] if name in found else _one(instances[name], name, data) for name in names}


def _instance(cls: Any, cfg: DatagenConfig, name: str) -> Any:
    return cls(cfg.plugin_config("metric", name, cls.Config))


def _one(instance: Any, name: str, data: Results) -> dict[str, Any]:
    """One metric's values, or ``{"skipped": reason}`` when it fails (never stopping the others)."""
    try:
        return dict(instance.compute(data))
    except UsageError:
        raise  # the input or the options are wrong: every metric would say the same
    except Exception as exc:
        get_logger("datagen.metrics").warning(
            "metric_failed", metric=name, error=f"{type(exc).__name__}: {exc}"
        )
        return {"skipped": f"{type(exc).__name__}: {exc}"}


#: below this many records the metrics run one after the other (a process costs more than they do)
PARALLEL_MIN_RECORDS = 20_000

#: what a forked worker computes from: the metric instances and the data (inherited, never pickled)
_FORKED: dict[str, Any] = {}


def _parallel_ok(names: Sequence[str], data: Results) -> bool:
    """Whether to run the metrics in worker processes, one per core: several metrics on a large
    dataset, and a process that may fork (Linux, and no other thread running, e.g. a model's)."""
    import multiprocessing
    import threading

    if len(names) < 2 or (os.cpu_count() or 1) < 2 or os.environ.get("DATAGEN_METRICS_WORKERS") == "1":
        return False
    if "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
        return False
    return len(data) >= PARALLEL_MIN_RECORDS


def _in_parallel(instances: Mapping[str, Any], data: Results) -> dict[str, dict[str, Any]]:
    """Each metric in a forked worker (as many as cores), heaviest first; a metric whose worker failed
    is left out of the answer and computed here after."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # heaviest first, as each metric class says (``cost``, a relative weight; 1 when it says nothing)
    order = sorted(instances, key=lambda n: -float(getattr(instances[n], "cost", 1)))
    _FORKED.update(instances=instances, data=data)
    out: dict[str, dict[str, Any]] = {}
    try:
        workers = min(len(order), os.cpu_count() or 1)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = {name: pool.submit(_forked_one, name) for name in order}
            for name, future in futures.items():
                try:
                    out[name] = future.result()
                except (BrokenProcessPool, OSError, EOFError):
                    continue  # computed again in this process
    finally:
        _FORKED.clear()
    return out


def _forked_one(name: str) -> dict[str, Any]:
    return _one(_FORKED["instances"][name], name, _FORKED["data"])


def differences(a: Any, b: Any, path: str = "") -> dict[str, dict[str, Any]]:
    """Every numeric value that differs between two metric trees: ``path -> {a, b, change}``."""
    out: dict[str, dict[str, Any]] = {}
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b), key=str):
            if key in {"histogram", "assignments", "weights"}:
                continue  # per-bin and per-record detail: the summaries say it
            out.update(differences(a.get(key), b.get(key), f"{path}.{key}" if path else str(key)))
        return out
    numeric = (int, float)
    if (
        isinstance(a, numeric)
        and isinstance(b, numeric)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        if a != b:
            out[path] = {"a": a, "b": b, "change": round(b - a, 6)}
    elif a != b and not isinstance(a, list | Mapping) and not isinstance(b, list | Mapping):
        out[path] = {"a": a, "b": b}
    return out


def compare(
    a: Source,
    b: Source,
    metrics: Sequence[str] | None = None,
    *,
    config: DatagenConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    plugins: PluginManager | None = None,
) -> dict[str, Any]:
    """The same metrics on two datasets (before and after filtering, synthetic and real) and what differs."""
    cfg = as_config(config)
    pm = plugins or load_plugins_for(cfg)
    first = compute(a, metrics, config=cfg, plugins=pm)
    second = compute(b, metrics, config=cfg, plugins=pm)
    return {"a": first, "b": second, "differences": differences(first, second)}


__all__ = ["compare", "compute", "default_metrics", "differences"]
