"""The ``hf`` format's dataset card: the Hub's YAML header (one config per view) and a body counted from
the records and, when given, from the run reports (``--report`` files of generate, filter, scrub and
pipeline runs) and a ``datagen metrics --json`` file."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from datagen.plugin import UsageError

SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))

#: what each view is, for the card
VIEWS = {
    "default": "every record, every field (`provenance`, and `metadata` when it fits one type, as structs)",
    "sft": "TRL's conversational SFT rows, `{messages}` (the `trl-sft` export)",
    "dpo": "TRL's conversational preference rows, `{prompt, chosen, rejected}` (the `trl-dpo` export)",
    "rejects": "the records the curation removed, with the stage and the reason (`stage`, `reason`, "
    "`details` as JSON text)",
}  # fmt: skip


def read_json(path: str, what: str, key: str) -> Any:
    """A JSON file the card is made from; a clear error naming the option when it cannot be read."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"$.exporter.hf.{key}: {path}: no such {what}") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"$.exporter.hf.{key}: {path}: not a readable {what} ({exc})") from None


def read_reports(paths: Sequence[str]) -> list[dict[str, Any]]:
    """The run reports, checked to be datagen's (a ``run_id`` and a ``kind``)."""
    reports = []
    for path in paths:
        data = read_json(path, "run report", "reports")
        run = isinstance(data, dict) and "run_id" in data and "kind" in data
        if not run and not (isinstance(data, dict) and "steps" in data and "file" in data):
            raise UsageError(
                f"$.exporter.hf.reports: {path}: not a datagen run report (--report FILE) "
                "or a pipeline run's report.json"
            )
        reports.append(data)
    return reports


def _counts(counter: Mapping[str, int]) -> str:
    items = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{k} ({v})" for k, v in items) or "none recorded"


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def header(
    n: int, views: Sequence[str], license_: str, pretty_name: str | None, tags: Sequence[str]
) -> dict[str, Any]:
    """The card's YAML header: licence, tags, size category and one config per view."""
    size = next((label for limit, label in SIZES if n < limit), "n>1M")
    folders = {"default": "data"}
    configs = [
        {
            "config_name": view,
            "data_files": [{"split": "train", "path": f"{folders.get(view, view)}/train-*.parquet"}],
            **({"default": True} if view == "default" else {}),
        }
        for view in ("default", *views)
    ]
    out: dict[str, Any] = {
        "license": license_,
        "tags": ["synthetic", "datagen", *(t for t in tags if t not in ("synthetic", "datagen"))],
        "size_categories": [size],
        "configs": configs,
    }
    if pretty_name:
        out["pretty_name"] = pretty_name
    return out


@attrs.define
class CardStats:
    """What the card says of the records, counted one row at a time (``record_to_dict`` rows; their
    ``provenance.params`` a mapping or JSON text)."""

    rows: int = 0
    made: int = 0  # with provenance
    tokens: int = 0
    cost: float = 0.0
    cost_known: bool = True  # every record with provenance has a cost
    methods: Counter[str] = attrs.field(factory=Counter)
    models: Counter[str] = attrs.field(factory=Counter)
    finish: Counter[str] = attrs.field(factory=Counter)
    sampling: dict[str, Counter[str]] = attrs.field(factory=dict)

    def add(self, row: Mapping[str, Any]) -> None:
        """Count one row."""
        self.rows += 1
        p = row["provenance"]
        if not p:
            return
        self.made += 1
        self.tokens += p["usage"]["prompt_tokens"] + p["usage"]["completion_tokens"]
        if p["usage"]["cost_usd"] is None:
            self.cost_known = False
        else:
            self.cost += p["usage"]["cost_usd"]
        self.methods[p["method"]] += 1
        self.models[f"{p['backend']} / {p['model']}"] += 1
        self.finish[str(p["finish_reason"])] += 1
        try:
            params = json.loads(p["params"]) if isinstance(p["params"], str) else p["params"] or {}
        except ValueError:
            return
        for key in ("temperature", "top_p", "max_tokens"):
            if key in params and params[key] is not None:
                self.sampling.setdefault(key, Counter())[str(params[key])] += 1

    def sampling_text(self) -> str:
        """The sampling parameters the records were made with, each value and how many records."""
        return "; ".join(f"{k} {_counts(v)}" for k, v in self.sampling.items()) or "not recorded"


def _pipeline_models(report: Mapping[str, Any]) -> list[str]:
    """The named models of the pipeline file a report came from (``name: backend / model``), if the
    file can still be read."""
    path = Path(str(report.get("file", "")))
    if "steps" not in report or not path.is_file():
        return []
    try:
        if path.suffix == ".toml":
            import tomllib

            spec = tomllib.loads(path.read_text(encoding="utf-8"))
        else:
            import yaml

            spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, ImportError):
        return []
    models = spec.get("models") if isinstance(spec, dict) else None
    if not isinstance(models, dict):
        return []
    return [
        f"{name}: {m.get('backend', 'default')} / {m.get('model') or 'its default model'}"
        for name, m in models.items()
        if isinstance(m, dict)
    ]


def _runs(reports: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = ["## How it was made", "", "| run | what | written | requests | tokens | cost | time |"]
    lines.append("|---|---|---|---|---|---|---|")
    for r in reports:
        if "steps" in r:  # a pipeline run's report.json
            tokens = int(r.get("input_tokens", 0)) + int(r.get("output_tokens", 0))
            cached = f" ({r.get('cached', 0)} from cache)" if r.get("cached") else ""
            lines.append(
                f"| pipeline `{r.get('name')}` | {len(r['steps'])} steps | {r.get('written', 0)} of "
                f"{r.get('rows', 0)} rows | {r.get('requests', 0)}{cached} | {tokens} "
                f"| ${float(r.get('cost_usd', 0)):.4f} | {float(r.get('seconds', 0)):.1f} s |"
            )
            continue
        if r.get("kind") == "generate":
            what = f"{r.get('method')} via {r.get('backend')} ({r.get('model')})"
        else:
            what = ", ".join(s["name"] for s in r.get("stages", [])) or r.get("kind", "")
        requested = f" of {r['requested']}" if r.get("requested") is not None else ""
        cost = "unknown" if r.get("cost_usd") is None else f"${r['cost_usd']:.4f}"
        tokens = int(r.get("prompt_tokens", 0)) + int(r.get("completion_tokens", 0))
        cached = f" ({r.get('cached', 0)} from cache)" if r.get("cached") else ""
        lines.append(
            f"| {r.get('kind')} `{str(r.get('run_id', ''))[:8]}` | {what} | {r.get('written', 0)}{requested} "
            f"({r.get('status', '')}) | {r.get('requests', 0)}{cached} | {tokens} | {cost} "
            f"| {float(r.get('elapsed_s', 0)):.1f} s |"
        )
    return [*lines, ""]


def _steps(reports: Sequence[Mapping[str, Any]]) -> list[str]:
    """A pipeline's steps: rows in and out, what each removed and why, what each cost."""
    steps = [(r.get("name"), s) for r in reports for s in r.get("steps", [])]
    if not steps:
        return []
    lines = [
        "## Pipeline steps",
        "",
        "| pipeline | step | kind | rows in | rows out | pass rate | removed, by reason | requests | tokens "
        "| cost |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in steps:
        rows_in, rows_out = int(s.get("rows_in", 0)), int(s.get("rows_out", 0))
        tokens = int(s.get("input_tokens", 0)) + int(s.get("output_tokens", 0))
        removed = _counts(s.get("removed") or {}) if s.get("removed") else "none"
        lines.append(
            f"| {name} | {s.get('name')} | {s.get('kind')} | {rows_in} | {rows_out} | "
            f"{_share(rows_out, rows_in)} | {removed} "
            f"| {s.get('requests', 0)} | {tokens} | ${float(s.get('cost_usd', 0)):.4f} |"
        )
    return [*lines, ""]


def _stages(reports: Sequence[Mapping[str, Any]]) -> list[str]:
    stages = [s for r in reports for s in r.get("stages", [])]
    if not stages:
        return []
    lines = ["## Curation", "", "| stage | family | examined | kept | pass rate | removed, by reason |"]
    lines.append("|---|---|---|---|---|---|")
    for s in stages:
        examined, kept = int(s.get("examined", 0)), int(s.get("kept", 0))
        lines.append(
            f"| {s['name']} | {s.get('family', '')} | {examined} | {kept} | {_share(kept, examined)} "
            f"| {_counts(s.get('reasons') or {}) if s.get('removed') else 'none'} |"
        )
    lines.append("")
    for s in stages:
        details = s.get("details") or {}
        if "hits" in details and "benchmark_ngrams" in details:
            hits = details.get("hits") or {}
            benchmarks = sorted(details.get("benchmark_ngrams") or {})
            removed = sum(hits.values())
            lines += [
                f"**Decontamination** (`{s['name']}`): {removed} {'record' if removed == 1 else 'records'} "
                f"removed for a long n-gram shared with a benchmark (hits: {_counts(hits)}; benchmarks "
                f"checked: {', '.join(benchmarks) or 'none named'}).",
                "",
            ]
        if "found" in details and "records_changed" in details:
            lines += [
                f"**Personal data** (`{s['name']}`, strategy {details.get('strategy')}): "
                f"{details['records_changed']} of {s.get('examined', 0)} records changed; found by type: "
                f"{_counts(details.get('found') or {})}.",
                "",
            ]
    return lines


def _privacy(reports: Sequence[Mapping[str, Any]]) -> list[str]:
    spent = {k: v for r in reports for k, v in (r.get("privacy_spent") or {}).items() if v}
    if not spent:
        return []
    lines = ["## Differential privacy", ""]
    for name, budget in spent.items():
        lines.append(f"- `{name}`: ε = {budget.get('epsilon'):.4g}, δ = {budget.get('delta'):.3g}")
    return [*lines, ""]


def _metrics(metrics: Mapping[str, Any] | None, reports: Sequence[Mapping[str, Any]]) -> list[str]:
    found: dict[str, Any] = {}
    for r in reports:
        found.update(r.get("metrics") or {})
    found.update(metrics or {})
    rows = []
    for name, values in found.items():
        if not isinstance(values, Mapping):
            continue
        if "skipped" in values:
            rows.append(f"| {name} | skipped: {values['skipped']} |")
            continue
        flat = {
            k: v for k, v in values.items() if isinstance(v, int | float | str) and not isinstance(v, bool)
        }
        if flat:
            shown = ", ".join(f"{k} {round(v, 4) if isinstance(v, float) else v}" for k, v in flat.items())
            rows.append(f"| {name} | {shown} |")
    if not rows:
        return []
    return ["## Metrics", "", "| metric | values |", "|---|---|", *rows, ""]


def body(
    stats: CardStats,
    schema: Any,
    *,
    title: str,
    metadata_as_struct: bool,
    views: Mapping[str, int],
    dropped_views: Mapping[str, str],
    reports: Sequence[Mapping[str, Any]],
    metrics: Mapping[str, Any] | None,
) -> str:
    """The card's Markdown below the header (``schema``: the records' Arrow schema)."""
    tokens, models = stats.tokens, stats.models
    cost = f"${stats.cost:.4f}" if stats.made and stats.cost_known else "unknown"
    if not stats.made and reports:  # rows of a pipeline keep no provenance: the runs' own totals
        tokens = sum(
            int(r.get(a, 0)) + int(r.get(b, 0))
            for r in reports
            for a, b in (("prompt_tokens", "completion_tokens"), ("input_tokens", "output_tokens"))
        )
        spent = [r.get("cost_usd") for r in reports]
        cost = f"${sum(float(c) for c in spent if c is not None):.4f} (the runs')"
        cost = cost if None not in spent else "unknown"
        models = Counter({m: 1 for r in reports for m in _pipeline_models(r)})
    lines = [
        f"# {title}",
        "",
        f"{stats.rows} records generated with datagen ({stats.made} with provenance).",
        "",
        "| | |",
        "|---|---|",
        f"| methods | {_counts(stats.methods)} |",
        f"| backends and models | {_counts(models)} |",
        f"| sampling | {stats.sampling_text()} |",
        f"| finish reasons | {_counts(stats.finish)} |",
        f"| tokens | {tokens} |",
        f"| cost | {cost} |",
        "",
        "## Views",
        "",
        "| config | rows | what |",
        "|---|---|---|",
        *(f"| `{v}` | {count} | {VIEWS.get(v, v)} |" for v, count in views.items()),
        "",
        *(f"No `{v}` view: {why}." for v, why in dropped_views.items()),
        *([""] if dropped_views else []),
        "Load one with `datasets.load_dataset(REPO, CONFIG)` from the Hub, or "
        '`load_dataset("parquet", data_files="FOLDER/train-*.parquet")` from this folder.',
        "",
        *_runs(reports),
        *_steps(reports),
        *_stages(reports),
        *_privacy(reports),
        *_metrics(metrics, reports),
        "## Columns",
        "",
        ", ".join(f"`{field.name}` ({field.type})" for field in schema) + ".",
        "",
        "`metadata` is a struct."
        if metadata_as_struct
        else (
            "`metadata` is JSON text: the records' metadata do not share one type (decode it with "
            "`json.loads`)."
        ),
        "`provenance.params` (the sampling parameters) is JSON text.",
    ]
    if not reports:
        lines += [
            "",
            "No run report was given (`--report` of each run, then `datagen export ... --report FILE`): "
            "the curation, privacy and cost of the runs are not described here.",
        ]
    return "\n".join(lines) + "\n"
