"""Templates: distinct combinations of variable values, answered by the model.

python examples/template_generation.py [COUNT] [OUT_DIR]
"""

import sys
from pathlib import Path

import datagen

count = int(sys.argv[1]) if len(sys.argv) > 1 else 4
out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("examples_output")
out_dir.mkdir(parents=True, exist_ok=True)


def cities():
    """Variables can come from generator functions too."""
    yield from ["Lisbon", "Nairobi", "Osaka", "Lima"]


gen = datagen.Generator()
results = gen.generate_from_template(
    "Write a {{ length }} travel tip for a visitor to {{ city }} who loves {{ interest }}.",
    {"length": ["one-sentence", "two-sentence"], "city": cities, "interest": ["food", "history", "music"]},
    count,
    complete=True,
    max_tokens=96,
)
if len(results) == 0:  # say so, and fail: an empty file is no result
    sys.exit(f"no answered templates from this model: {results.report.summary()}")
path = results.save(out_dir / "templated.jsonl")
for record in results:
    print(f"- {record.instruction}\n  {record.output}")
print(f"{len(results)} records in {path}")
