""":class:`Pipeline`: a pipeline file (or the same data built in Python) validated, planned, previewed
and run, from Python; the ``validate``, ``plan``, ``preview`` and ``run`` commands use it."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from datagen._app.pipefile.execute import (
    COUNTERS,
    Outcome,
    Prepared,
    check_out,
    checkpoints_location,
    prepare,
    run_groups,
)
from datagen._app.pipefile.sources import file_rows
from datagen._app.pipefile.spec import Loaded, load
from datagen._app.pipefile.store import open_store
from datagen._datamodel.config import DatagenConfig, EngineConfig, as_config
from datagen._kernel.manager import PluginManager

if TYPE_CHECKING:
    from datagen._app.pipefile.steps import Row


@attrs.define
class PipelineResult:
    """A finished run: the dataset file, the rejects table, the report (also ``report.json`` in the
    run directory)."""

    out: Path
    report: dict[str, Any]

    @property
    def data(self) -> Path:
        """The dataset file (first of the report's outputs)."""
        return Path(self.report["outputs"][0])

    def rows(self) -> list[Row]:
        """The dataset's rows."""
        from datagen._app.pipefile.execute import _read_rows

        return _read_rows(self.data)

    def results(self) -> Any:
        """The rows as :class:`datagen.Results` of records (record fields, other columns in metadata),
        for metrics, ``Results.apply`` and the other record tools."""
        from datagen._app.pipefile.steps import row_to_record
        from datagen._datamodel.results import Results

        return Results(row_to_record(r) for r in self.rows())


class Pipeline:
    """A whole dataset build in one file: ``Pipeline.from_file("build.yaml").run("out/")``.

    ``config`` is the datagen config the file's own ``config`` keys go on top of (default: defaults
    and ``DATAGEN_*``); ``backend``, ``model`` and ``base_url`` override every model of the file."""

    def __init__(
        self,
        loaded: Loaded,
        *,
        config: DatagenConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
        plugins: PluginManager | None = None,
        backend: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
    ) -> None:
        self.loaded = loaded
        self.config = as_config(config)
        self.plugins = plugins
        self.overrides = {"backend": backend, "model": model, "base_url": base_url}
        self._prepared: Prepared | None = None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **options: Any) -> Pipeline:
        """The pipeline in a YAML or TOML file (schema problems raise at once, with line and column)."""
        return cls(load(Path(path)), **options)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, base: str | os.PathLike[str] = ".", **options: Any
    ) -> Pipeline:
        """The same pipeline built in Python: ``data`` in the file's shape; relative paths start at
        ``base``."""
        from datagen._app.pipefile.spec import structure_file

        return cls(structure_file(Path(base) / "<python>", dict(data), {}), **options)

    def prepared(self, *, only_named: bool = False) -> Prepared:
        """The file checked (every problem raised at once as one :class:`ConfigError`)."""
        if self._prepared is None:
            self._prepared = prepare(
                self.loaded,
                config=self.config,
                plugins=self.plugins,
                overrides=self.overrides,
                only_named=only_named,
            )
        return self._prepared

    def validate(self) -> list[str]:
        """Check everything before any work; returns the steps in run order."""
        # only the plugins the file names, unless an override needs a backend found by declaration
        prepared = self.prepared(only_named=self.plugins is None and not any(self.overrides.values()))
        self._prepared = None  # a run loads every plugin (the automatic backend choice needs them)
        return [step.name for step in prepared.steps]

    def preview(self, n: int = 10) -> Outcome:
        """``n`` rows through every step, nothing written: the rows kept, every removal with its step and
        reason, and the counts per step."""
        from datagen._engine.concurrency import run_sync

        outcome: Outcome = run_sync(run_groups(self.prepared(), out=None, limit=n, keep_rows=True))
        return outcome

    def plan(self, n: int = 10) -> dict[str, Any]:
        """Requests, input and output tokens, cost and seconds of the whole run, per step and in total,
        extrapolated from ``n`` rows run through the real backends (the cache off, so the preview's
        requests are counted as the run would send them): each step's count per row it received, times
        the rows it will receive (the rows ahead times the pass rates the preview saw upstream)."""
        from datagen._engine.concurrency import run_sync

        prepared = self.prepared()
        config = prepared.config
        uncached = attrs.evolve(
            prepared, config=attrs.evolve(config, cache=attrs.evolve(config.cache, enabled=False))
        )
        outcome: Outcome = run_sync(run_groups(uncached, out=None, limit=n, keep_rows=True))
        return extrapolate(outcome.report, total_rows(prepared), prepared)

    def run(
        self,
        out: str | os.PathLike[str],
        *,
        progress: Callable[[int, dict[str, float]], None] | None = None,
    ) -> PipelineResult:
        """Run every row group into the run directory ``out`` (checkpoints, ``data.jsonl`` or
        ``data.parquet``, ``rejects.jsonl``, ``report.json``), resuming from its checkpoints."""
        import json

        from datagen._app.pipefile.job import Job, choose_executor
        from datagen._datamodel.results import write_file

        folder = Path(out)
        prepared = self.prepared()
        section = prepared.config.section("executor")
        executor = choose_executor(prepared.config, prepared, os.environ)
        # a store that cannot be used (a protocol unknown, credentials missing) stops the run before any work
        open_store(folder, checkpoints_location(prepared.config))
        check_out(folder)
        job = Job(
            prepared, self.overrides, folder, workers=getattr(section, "workers", None),
            address=getattr(section, "address", None), on_progress=progress,
        )  # fmt: skip
        outcome: Outcome = executor.execute(job)
        report_path = folder / "report.json"
        report = outcome.report
        report["outputs"].append(str(report_path))
        if prepared.loaded.spec.metrics and report["written"]:
            report["metrics"] = self._metrics(prepared, Path(report["outputs"][0]))
        write_file(report_path, json.dumps(report, indent=2, default=str))
        if prepared.loaded.spec.output.exports:  # after the report, which a dataset card describes
            from datagen._app.pipefile.execute import write_exports

            exported = write_exports(prepared, Path(report["outputs"][0]), folder, report_path)
            report["outputs"][-1:-1] = [f for done in exported for f in done["files"]]
            report["exports"] = exported
            write_file(report_path, json.dumps(report, indent=2, default=str))
        return PipelineResult(folder, report)

    def _metrics(self, prepared: Prepared, data: Path) -> dict[str, Any]:
        from datagen._app.metrics import compute
        from datagen._app.pipefile.execute import _read_rows
        from datagen._app.pipefile.steps import row_to_record

        records = [row_to_record(r) for r in _read_rows(data)]
        return compute(
            records, prepared.loaded.spec.metrics, config=prepared.config, plugins=prepared.plugins
        )


def total_rows(prepared: Prepared) -> int:
    """How many rows the run starts with (file sources are counted by reading them)."""
    spec = prepared.loaded.spec
    methods = [s.count or 0 for s in spec.sources.values() if s.method]
    if methods:
        total = sum(methods)
    elif not spec.sources:
        total = spec.rows or 0
    else:
        total = sum(sum(1 for _ in file_rows(prepared.loaded, name, s)) for name, s in spec.sources.items())
    return min(total, spec.rows) if spec.rows is not None else total


def rate_floor(
    counts: Mapping[str, float], engine: EngineConfig, *, charge: str | None, max_tokens: int
) -> tuple[float, str | None]:
    """The seconds a configured rate limit holds a step's ``counts`` to, however many are in flight,
    and the limit that does (None: neither is set): its requests at ``requests_per_minute``, and its
    tokens at ``tokens_per_minute``, counted as its engine charged them (``charge``): what each
    request may use (its prompt and ``max_tokens``) or what they used (also when the step's engine
    is not known: the least it takes)."""
    floors: list[tuple[float, str | None]] = [(0.0, None)]
    if engine.requests_per_minute:
        floors.append((counts["requests"] / engine.requests_per_minute * 60, "requests_per_minute"))
    if engine.tokens_per_minute:
        if charge == "reserved":
            tokens = counts["input_tokens"] + counts["requests"] * max_tokens
        else:
            tokens = counts["input_tokens"] + counts["output_tokens"]
        floors.append((tokens / engine.tokens_per_minute * 60, "tokens_per_minute"))
    return max(floors, key=lambda floor: floor[0])


def extrapolate(preview: Mapping[str, Any], rows: int, prepared: Prepared) -> dict[str, Any]:
    """The whole run's counts from a preview's (see :meth:`Pipeline.plan`)."""
    engine = prepared.config.engine
    configured = max(1, engine.max_concurrency or 16)
    specs = {getattr(s, "name", None): s for s in prepared.steps}
    models = prepared.loaded.spec.models
    steps = []
    ahead = float(rows)
    for step in preview["steps"]:
        # the run has a whole row group in flight where the preview had its few rows, up to the
        # concurrency the step's engine allowed in the preview
        concurrency = step.get("concurrency") or configured
        speedup = min(prepared.loaded.spec.row_group, concurrency) / max(1, min(step["rows_in"], concurrency))
        per_row = {k: (step[k] / step["rows_in"] if step["rows_in"] else 0.0) for k in COUNTERS}
        pass_rate = step["rows_out"] / step["rows_in"] if step["rows_in"] else 1.0
        counts = {k: per_row[k] * ahead for k in COUNTERS}
        counts["requests"] += per_row["cached"] * ahead  # what the run would send without a cache
        # the answers' token limit: the step's model's own, else the sampling default
        model = models.get(getattr(specs.get(step["name"]), "model", "") or "default")
        most = (model.max_tokens if model is not None else None) or prepared.config.sampling.max_tokens
        floor, limit = rate_floor(counts, engine, charge=step.get("token_charge"), max_tokens=most)
        counts["seconds"] /= speedup
        held = floor > counts["seconds"]
        counts["seconds"] = max(counts["seconds"], floor)
        steps.append(
            {
                "name": step["name"],
                "kind": step["kind"],
                "rows_in": round(ahead),
                "pass_rate": round(pass_rate, 4),
                # the configured rate limit its seconds are held to, if one is
                "limited_by": limit if held else None,
                **{
                    k: round(counts[k], 6) if k == "cost_usd" else round(counts[k])
                    for k in COUNTERS
                    if k != "cached"
                },
            }
        )
        ahead *= pass_rate
    total = {k: sum(s[k] for s in steps) for k in COUNTERS if k != "cached"}
    total["cost_usd"] = round(total["cost_usd"], 6)
    return {
        "rows": rows,
        "rows_out": round(ahead),
        "preview_rows": preview["rows"],
        **total,
        "steps": steps,
    }
