"""Self-Instruct from the 175 seed tasks, on whatever backend is configured (offline: the embedded model).

python examples/basic_usage.py [COUNT] [OUT_DIR]
"""

import sys
from pathlib import Path

import datagen

count = int(sys.argv[1]) if len(sys.argv) > 1 else 5
out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("examples_output")
out_dir.mkdir(parents=True, exist_ok=True)

gen = datagen.Generator()  # no API key in the environment: the embedded local model
results = gen.generate_from_seed(
    datagen.SEED_TASKS, count, method="self_instruct", instruction_max_tokens=160, instance_max_tokens=128
)
if len(results) == 0:  # say so, and fail: an empty file is no result
    sys.exit(f"no tasks from this model: {results.report.summary()}")
path = results.save(out_dir / "self_instruct.jsonl")
for record in results:
    print(f"- {record.instruction}\n  input: {record.input}\n  output: {record.output}")
print(f"{len(results)} tasks written to {path}")
