"""Evol-Instruct: make instructions harder over two rounds, with the elimination step.

python examples/evolve_instructions.py [COUNT] [OUT_DIR]
"""

import sys
from pathlib import Path

import datagen

count = int(sys.argv[1]) if len(sys.argv) > 1 else 3
out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("examples_output")
out_dir.mkdir(parents=True, exist_ok=True)

instructions = [
    "Name three fruits.",
    "Explain what photosynthesis is.",
    "Write a short poem about the sea.",
    "Give two tips for learning to cook.",
][:count]
gen = datagen.Generator()
results = gen.evolve_instructions(instructions, rounds=2, max_tokens=96, answer_max_tokens=128)
if len(results) == 0:  # say so, and fail: an empty file is no result
    sys.exit(f"no evolutions (every one was eliminated) from this model: {results.report.summary()}")
path = results.save(out_dir / "evolved.jsonl")
for record in results:
    print(f"round {record.metadata['round']} ({record.metadata['operation']}): {record.instruction}")
print(f"{len(results)} evolutions kept (eliminated ones are dropped) in {path}")
