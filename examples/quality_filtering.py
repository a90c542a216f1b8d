"""Generate answers on the embedded model, then keep the good ones with quality filters.

python examples/quality_filtering.py [COUNT] [OUT_DIR]

The run itself filters (length, instruction checks, exact duplicates) and keeps generating until COUNT
records survive; then the seed's ``QualityFilter`` facade filters the result again with a function of
your own, and the report says what each filter removed and why.
"""

import sys
from pathlib import Path

import datagen

count = int(sys.argv[1]) if len(sys.argv) > 1 else 5
out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("examples_output")
out_dir.mkdir(parents=True, exist_ok=True)

config = {
    "filter": {
        "chain": ["length", "instruction", "exact_dedup"],
        "length": {"response_min_length": 3, "max_length": 400},
    },
    "sampling": {"max_tokens": 96},
}
gen = datagen.Generator(config)  # no API key in the environment: the embedded local model
tasks = [
    "Name three rivers in Europe.",
    "Give one tip for learning a new language.",
    "Explain what a noun is in one sentence.",
    "Suggest a name for a black cat.",
    "Describe the colour of the sky at sunset.",
    "Write a short greeting for a birthday card.",
]
results = gen.run("respond", tasks, count, out=out_dir / "answers.jsonl", overwrite=True)
print(results.report.summary())
for stage in results.report.stages:
    print(f"  {stage['name']}: kept {stage['kept']} of {stage['examined']}, removed {stage['reasons']}")

qf = datagen.QualityFilter({"response_min_length": 4, "remove_duplicates": True})


def no_lists(record: datagen.Record) -> bool | str:
    """Keep prose answers: a bulleted answer is dropped with a reason."""
    lines = (record.output or "").splitlines()
    return "bulleted" if sum(line.lstrip().startswith(("-", "*")) for line in lines) > 1 else True


qf.register_filter(no_lists)
kept = qf.filter(results, out=out_dir / "filtered.jsonl", rejected=out_dir / "rejected.jsonl")
for stage in kept.report.stages:
    print(f"QualityFilter {stage['name']}: retention {stage['retention']}, reasons {stage['reasons']}")
for record in kept:
    print(f"- {record.instruction}\n  {record.output}")
print(f"{len(kept)} of {len(results)} records kept in {kept.path}")
