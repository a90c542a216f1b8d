"""Records written in a training format by an exporter plugin (``datagen export``, ``Results.export``)."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from datagen._app.pipeline import construct
from datagen._datamodel.config import as_config, structure
from datagen._datamodel.records import Record
from datagen._kernel.manager import PluginManager, load_plugins_for
from datagen.errors import ConfigError, UsageError


def exporter(
    fmt: str,
    config: Any = None,
    plugins: PluginManager | None = None,
    options: Mapping[str, Any] | None = None,
) -> Any:
    """The exporter plugin named ``fmt``, built with its ``[exporter.NAME]`` options (``options``, when
    given, instead); an unknown name or bad options are an error before any record is read."""
    cfg = as_config(config)
    pm = plugins or load_plugins_for(cfg)
    registry = pm.registry("exporter")
    fmt = fmt.replace("-", "_")  # trl-sft is the trl_sft plugin (plugin names are identifiers)
    if fmt not in registry:
        raise UsageError(registry.unknown(fmt, "export format (--to)"))
    problems: list[str] = []
    cls = registry.get(fmt)
    structured = None if options is None else structure(options, cls.Config, path=f"$.exporter.{fmt}")
    plugin = construct(cls, cfg, "exporter", fmt, problems, options=structured)
    if problems:
        raise ConfigError(problems)
    return plugin


def export(
    records: Iterable[Record],
    fmt: str,
    path: str | os.PathLike[str],
    *,
    config: Any = None,
    plugins: PluginManager | None = None,
    overwrite: bool = True,
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``records`` as ``fmt`` to ``path``; what the exporter wrote (``rows``, ``files``)."""
    fmt = fmt.replace("-", "_")
    target = Path(path)
    plugin = exporter(fmt, config, plugins, options)
    check_target(target, overwrite=overwrite)
    done: dict[str, Any] = plugin.export(records, target)
    return {"format": fmt, **done}


def check_target(path: Path, *, overwrite: bool) -> None:
    """Fail before any work if ``path`` (a file, or the ``hf`` format's folder) cannot be written or,
    unless ``overwrite``, already exists."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{path}: cannot write the export, folder {parent} does not exist")
    if path.exists() and not overwrite:
        raise UsageError(f"{path}: exists; pass --overwrite (or choose another name)")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{path}: cannot write the export, permission denied")


def parse_splits(text: str) -> dict[str, float]:
    """``train=0.9,validation=0.1`` as shares that sum to 1; a clear error naming what is wrong."""
    shares: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            share = float(value)
        except ValueError:
            share = -1.0
        if not sep or not name.strip().isidentifier() or not 0 < share < 1 or name.strip() in shares:
            raise UsageError(
                f"--split {text!r}: each part is NAME=SHARE with a share between 0 and 1, got {part!r}"
            )
        shares[name.strip()] = share
    if len(shares) < 2 or abs(sum(shares.values()) - 1) > 1e-6:
        raise UsageError(f"--split {text!r}: two or more splits whose shares sum to 1")
    return shares


def _text(record: Record) -> str:
    """What a record is grouped by: its prompt (the same question with another answer is still a leak),
    or its output when it has no prompt (a document)."""
    return record.prompt_text or "\n".join(m.content for m in record.messages or ()) or record.output or ""


def _stratum(record: Record, field: str | None) -> str:
    if field is None:
        return ""
    value = getattr(record, field, None) if field in Record.__annotations__ else record.metadata.get(field)
    return json.dumps(value, sort_keys=True, default=str)


def split_paths(path: str | os.PathLike[str], splits: Iterable[str]) -> dict[str, Path]:
    """Where each split of an export to ``path`` goes: ``STEM.SPLIT.SUFFIX`` beside it."""
    target = Path(path)
    return {name: target.with_name(f"{target.stem}.{name}{target.suffix}") for name in splits}


def split_export(
    records: Iterable[Record] | Callable[[], Iterable[Record]],
    fmt: str,
    path: str | os.PathLike[str],
    splits: Mapping[str, float],
    *,
    seed: int = 0,
    stratify: str | None = None,
    config: Any = None,
    plugins: PluginManager | None = None,
    overwrite: bool = True,
) -> dict[str, Any]:
    """``records`` split by ``splits`` shares, each split written as ``fmt`` to ``STEM.SPLIT.SUFFIX``
    beside ``path``; near duplicates (clusters of the filter that declares ``groups_near_duplicates``,
    ``near_dedup``) never land in two splits, and the result says how many clusters the check found in
    more than one (0). Clusters are dealt out in a seeded order to the split furthest below its share,
    within each value of ``stratify`` (a record field or metadata key) when given.

    ``records`` may be a function that reads them afresh (a file's records): then only their texts are
    held while clustering, and each split is written from a pass of its own, not from all records kept
    in memory."""
    from datagen._kernel.capabilities import first_declaring

    fmt = fmt.replace("-", "_")
    cfg = as_config(config)
    pm = plugins or load_plugins_for(cfg)
    plugin = exporter(fmt, cfg, pm)  # a bad format or option fails before any work
    outputs = split_paths(path, splits)
    for out in outputs.values():
        check_target(out, overwrite=overwrite)
    grouper_name = first_declaring(
        pm, "filter", "groups_near_duplicates", True, "no filter plugin clusters near duplicates"
    )
    problems: list[str] = []
    grouper = construct(pm.registry("filter").get(grouper_name), cfg, "filter", grouper_name, problems)
    if problems:
        raise ConfigError(problems)
    if callable(records):
        read = records
    else:
        kept = list(records)
        read = lambda: kept  # noqa: E731
    texts: list[str] = []
    strata_of: list[str] = []
    for record in read():
        texts.append(_text(record))
        strata_of.append(_stratum(record, stratify))
    if not texts:
        raise UsageError(f"no record to export as {fmt}")
    cluster_of: list[int] = grouper.groups(texts)
    del texts
    clusters: dict[int, list[int]] = {}
    for i, cluster in enumerate(cluster_of):
        clusters.setdefault(cluster, []).append(i)
    strata: dict[str, list[list[int]]] = {}
    for members in clusters.values():
        strata.setdefault(strata_of[members[0]], []).append(members)
    rng = random.Random(seed)
    assigned: list[str] = [""] * len(cluster_of)
    for stratum in sorted(strata):
        groups = strata[stratum]
        rng.shuffle(groups)
        size = sum(len(g) for g in groups)
        filled = dict.fromkeys(splits, 0)
        for members in groups:  # the split furthest below its share (first named on a tie)
            name = max(splits, key=lambda n: splits[n] * size - filled[n])
            filled[name] += len(members)
            for i in members:
                assigned[i] = name
    leaked = sum(1 for members in clusters.values() if len({assigned[i] for i in members}) > 1)
    counts = {name: assigned.count(name) for name in splits}
    for name, count in counts.items():
        if not count:
            raise UsageError(
                f"--split: no record left for {name!r} ({len(assigned)} records in {len(clusters)} clusters)"
            )
    written: dict[str, Any] = {"format": fmt, "splits": {}, "files": [], "clusters": len(clusters)}
    for name, out in outputs.items():
        part = (r for i, r in enumerate(read()) if assigned[i] == name)
        done = plugin.export(part, out)
        written["splits"][name] = done["rows"]
        written["files"] += done["files"]
    written["leakage"] = {"checked_by": grouper_name, "clusters_in_two_splits": leaked}
    return written
