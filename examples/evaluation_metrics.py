"""Measure a generated dataset: statistics, diversity, readability, topics; a dashboard and a report.

python examples/evaluation_metrics.py [COUNT] [OUT_DIR]

Generates COUNT answers on the embedded model (offline), computes the metrics with the seed's
``datagen.metrics.compute``, draws the seed's summary dashboard and writes the one-page HTML report
(self-contained: open it in any browser, no network needed).
"""

import json
import subprocess
import sys
from pathlib import Path

import datagen
from datagen.metrics import compute
from datagen.metrics.visualization import create_length_distribution_plot, create_summary_dashboard

count = int(sys.argv[1]) if len(sys.argv) > 1 else 6
out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("examples_output")
out_dir.mkdir(parents=True, exist_ok=True)

tasks = [
    "Describe a rainy afternoon in two sentences.",
    "Give two tips for writing clear emails.",
    "Explain what a volcano is to a child.",
    "Name three uses of a paperclip.",
    "Write a one-line motto for a bakery.",
    "Suggest a weekend activity for a family.",
]
gen = datagen.Generator({"sampling": {"max_tokens": 96}, "metric": {"run": ["stats", "diversity"]}})
results = gen.run("respond", tasks, count, out=out_dir / "answers.jsonl", overwrite=True)
results.report.save(out_dir / "run.json")
print(results.report.summary())
print(
    "metrics from the run itself:",
    {k: v.get("records", v.get("distinct_2")) for k, v in results.report.metrics.items()},
)

metrics = compute(results, ["stats", "diversity", "readability", "topics"],
                  config={"metric": {"topics": {"topics": 2}}})  # fmt: skip
for name, values in metrics.items():
    shown = {k: v for k, v in values.items() if isinstance(v, int | float | str)}
    print(f"{name}: {json.dumps(shown)[:300]}")
create_summary_dashboard(metrics, out_dir / "dashboard.png")
create_length_distribution_plot(results, metrics["stats"], out_dir / "lengths.png")
report = out_dir / "report.html"
command = [sys.executable, "-m", "datagen", "report", str(out_dir / "answers.jsonl"), "-o", str(report)]
command += ["--run-report", str(out_dir / "run.json"), "--overwrite", "--set", "metric.topics.topics=2"]
subprocess.run(command, check=True)
print(f"dashboard: {out_dir / 'dashboard.png'}; report: {out_dir / 'report.html'}")
