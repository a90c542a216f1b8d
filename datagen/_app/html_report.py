"""``datagen report``: one self-contained HTML page about a dataset.

A summary on top; then folding sections: the dataset card (provenance: methods, backends, models,
sampling parameters; counts, tokens and cost), every metric, the plots (PNG embedded as data URIs, so
the page needs no network and no other file), the filter and privacy report and the run report when a
``--run-report`` is given, and a comparison with another dataset when ``--compare`` is given.
"""

from __future__ import annotations

import base64
import html
import json
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

from datagen._datamodel.records import Record
from datagen._datamodel.results import write_file
from datagen._kernel.manager import PluginManager

TEMPLATE = Path(__file__).with_name("templates") / "report.html"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(_fmt(v) for v in value[:12]) + (" …" if len(value) > 12 else "")
    return str(value)


def _rows(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Flat (key, value) rows of a metric's output, without per-record detail."""
    rows: list[tuple[str, str]] = []
    for key, value in values.items():
        if key in {"histogram", "assignments", "weights"}:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and not ({"mean", "median"} <= set(value) or "skipped" in value):
            rows += _rows(value, f"{name}.")
        elif isinstance(value, Mapping) and "median" in value:
            summary = (
                f"mean {_fmt(value['mean'])}, median {_fmt(value['median'])}, "
                f"p5 to p95 {_fmt(value['p5'])} to {_fmt(value['p95'])}, max {_fmt(value['max'])}"
            )
            rows.append((name, summary))
        else:
            rows.append((name, _fmt(value)))
    return rows


def provenance_card(records: Iterable[Record]) -> list[tuple[str, str]]:
    """Methods, backends and models, sampling parameters and creation dates, from the records."""
    methods: Counter[str] = Counter()
    models: Counter[str] = Counter()
    sampling: Counter[str] = Counter()
    first = last = None
    n = 0
    for record in records:
        n += 1
        prov = record.provenance
        if prov is None:
            continue
        methods[prov.method] += 1
        models[f"{prov.backend or '-'} / {prov.model or '-'}"] += 1
        params = {k: v for k, v in prov.params.items() if k in {"temperature", "top_p", "max_tokens", "seed"}}
        if params:
            sampling[", ".join(f"{k}={v}" for k, v in sorted(params.items()))] += 1
        first = min(first or prov.created_at, prov.created_at)
        last = max(last or prov.created_at, prov.created_at)
    card = [("records", f"{n:,}")]
    card.append(("methods", _fmt(dict(methods.most_common())) or "no provenance"))
    card.append(("backends and models", _fmt(dict(models.most_common())) or "no provenance"))
    card.append(("sampling parameters", _fmt(dict(sampling.most_common(5))) or "not recorded"))
    if first:
        card.append(("created", f"{first} to {last}"))
    return card


def _png_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def render(
    name: str,
    records: Iterable[Record],
    metrics: Mapping[str, Mapping[str, Any]],
    *,
    plots: Iterable[tuple[str, Path]] = (),
    run_report: Mapping[str, Any] | None = None,
    comparison: Mapping[str, Any] | None = None,
    other: str | None = None,
    summary: Sequence[tuple[str, Any]] = (),
) -> str:
    """The page's HTML; ``summary`` is the headline figures (:func:`summary_cards`)."""
    cards = [(label, _fmt(value)) for label, value in summary]
    card = provenance_card(records)
    if run_report and "steps" in run_report:  # a pipeline file's run (datagen run)
        r = run_report
        run_line = f"pipeline {r.get('name')}: {_fmt(r.get('written'))} of {_fmt(r.get('rows'))} rows written"
        requests = f"{_fmt(r.get('requests'))} ({_fmt(r.get('cached'))} cached)"
        used = f"{_fmt(r.get('input_tokens'))} input + {_fmt(r.get('output_tokens'))} output"
        card += [("run", run_line), ("requests", requests), ("tokens", used)]
    elif run_report:
        r = run_report
        run_line = (
            f"{r.get('kind')} {r.get('run_id')}: {r.get('status')}, "
            f"{_fmt(r.get('written'))} of {_fmt(r.get('requested'))} written"
        )
        cached, retries = _fmt(r.get("cached")), _fmt(r.get("retries"))
        requests = f"{_fmt(r.get('requests'))} ({cached} cached, {retries} retries)"
        used = f"{_fmt(r.get('prompt_tokens'))} prompt + {_fmt(r.get('completion_tokens'))} completion"
        card += [("run", run_line), ("requests", requests), ("tokens", used)]
    metric_rows = [(m, str(v["skipped"]) if "skipped" in v else _rows(v)) for m, v in metrics.items()]
    diffs = sorted((comparison or {}).get("differences", {}).items())
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined)
    page = environment.from_string(TEMPLATE.read_text(encoding="utf-8"))
    return page.render(
        name=name,
        subtitle=f"{len(metrics)} metrics · generated by datagen",
        cards=cards,
        card=card,
        plots=[(title, _png_uri(path)) for title, path in plots],
        metrics=metric_rows,
        stages=(run_report or {}).get("stages", []),
        steps=(run_report or {}).get("steps", []),
        privacy=_fmt((run_report or {}).get("privacy_spent") or {}),
        comparison=diffs,
        other=other,
        run_report=json.dumps(run_report, indent=2) if run_report else None,
    )


def summary_cards(metrics: Mapping[str, Mapping[str, Any]], pm: PluginManager) -> list[tuple[str, Any]]:
    """The headline figures each computed metric declares (its ``cards(values)``), in the metrics'
    order; a records count comes first, ``?`` when no metric gave one."""
    registry = pm.registry("metric")
    cards: list[tuple[str, Any]] = []
    for name, values in metrics.items():
        declare = getattr(registry.get(name), "cards", None) if name in registry else None
        if callable(declare) and "skipped" not in values:
            cards.extend(declare(values))
    if not any(label == "records" for label, _ in cards):
        cards.insert(0, ("records", "?"))
    return cards


def write_report(
    source: Path,
    out: Path,
    metrics: Mapping[str, Mapping[str, Any]],
    records: Iterable[Record],
    *,
    run_report: Mapping[str, Any] | None = None,
    comparison: Mapping[str, Any] | None = None,
    other: str | None = None,
    plugins: PluginManager | None = None,
) -> Path:
    """Draw the plots, render the page, write it through a temporary file renamed into place."""
    from datagen._app.visualization import render_all
    from datagen._kernel.manager import load_plugins

    pm = plugins or load_plugins()

    records = list(records)
    with tempfile.TemporaryDirectory() as tmp:
        paths = render_all(records, metrics, tmp)
        plots = [(p.stem.replace("_", " "), p) for p in paths]
        page = render(
            html.unescape(source.name),
            records,
            metrics,
            plots=plots,
            run_report=run_report,
            comparison=comparison,
            other=other,
            summary=summary_cards(metrics, pm),
        )
    return write_file(out, page)
