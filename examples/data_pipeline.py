"""Data pipeline integration: load a dataset, transform it (filters, PII scrubbing, a derived column
through a pipeline built in Python), take a stratified sample, export it in four formats. No model is
needed: this runs in seconds on any machine.

python examples/data_pipeline.py [SAMPLE_SIZE] [OUT_DIR]
"""

import sys
from pathlib import Path

import datagen
from datagen.pipeline import Pipeline, load_dataset, sample_dataset, save_dataset

size = int(sys.argv[1]) if len(sys.argv) > 1 else 20
out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("examples_output")
out_dir.mkdir(parents=True, exist_ok=True)

# 1. load: the 175 Self-Instruct seed tasks (any JSONL, JSON, CSV or Parquet file loads the same way)
tasks = load_dataset(datagen.SEED_TASKS)
print(f"loaded {len(tasks)} tasks")

# 2. transform: the quality filters and the PII scrubber as stages over the records, with their options
options = {"filter": {"length": {"instruction_min_length": 3, "max_length": 400}}}
cleaned = tasks.apply("length", "exact_dedup", "pii", config=options)
print(cleaned.report.summary())

# 3. sample: classification and generation tasks keep their shares of the dataset
sample = sample_dataset(cleaned, size, strategy="stratified", by="is_classification", seed=0)
shares = {kind: sum(r.metadata["is_classification"] is kind for r in sample) for kind in (True, False)}
print(f"sampled {len(sample)}: {shares[True]} classification, {shares[False]} generation tasks")

# 4. a pipeline built in Python over the sample: a column from a template, a condition, a dedup filter
save_dataset(sample, out_dir / "sample.jsonl")
pipeline = Pipeline.from_dict(
    {
        "name": "tasks-with-prompts",
        "sources": {"tasks": {"path": str((out_dir / "sample.jsonl").resolve())}},
        "steps": [
            {"name": "prompt", "template": "### Instruction\n{{ instruction }}\n\n### Response\n"},
            {"name": "answered", "keep": "output is not none and output | length > 0"},
            {"filter": "exact_dedup"},
        ],
    }
)
done = pipeline.run(out_dir / "pipeline_run")
print(f"pipeline: {done.report['written']} rows in {done.data}, removals in rejects.jsonl")

# 5. export: the same records as JSONL, Parquet, a JSON array and CSV
for suffix in (".jsonl", ".parquet", ".json", ".csv"):
    path = save_dataset(done.results(), out_dir / f"tasks{suffix}")
    print(f"wrote {path}")
