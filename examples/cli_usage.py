"""The command line end to end, through subprocess: generate on the embedded model, filter, scrub,
measure, then a pipeline file validated, previewed and run. Each command's output is shown; any
failure stops the script with its exit code.

python examples/cli_usage.py [COUNT] [OUT_DIR]
"""

import json
import subprocess
import sys
from pathlib import Path

count = int(sys.argv[1]) if len(sys.argv) > 1 else 3
out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("examples_output")
out.mkdir(parents=True, exist_ok=True)


def datagen(*args: str) -> str:
    """Run ``datagen ARGS`` (this Python's), echo it, and return its stdout."""
    cmd = [sys.executable, "-m", "datagen", *args]
    print("$ datagen " + " ".join(args), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    print(proc.stdout + proc.stderr, flush=True)
    if proc.returncode != 0:
        sys.exit(proc.returncode)
    return proc.stdout


# generate answers to a few of the Self-Instruct seed tasks on the embedded model (no API key needed)
datagen("generate", "--count", str(count), "-o", str(out / "generated.jsonl"), "--overwrite")
datagen(
    "filter", str(out / "generated.jsonl"), "-o", str(out / "filtered.jsonl"), "--overwrite",
    "--filter", "length", "--set", "filter.length.response_min_length=3",
)  # fmt: skip
datagen("scrub", str(out / "filtered.jsonl"), "-o", str(out / "scrubbed.jsonl"), "--overwrite")
datagen("metrics", str(out / "scrubbed.jsonl"), "--metric", "stats", "--json", str(out / "metrics.json"))

# a pipeline file: sampled topics, a question from a template, an answer from the embedded model
pipeline = out / "questions.yaml"
pipeline.write_text(
    f"""name: questions
rows: {count}
row_group: 2
models:
  default: {{max_tokens: 96}}
steps:
  - {{name: topic, sampler: category, values: [tides, volcanoes, bread, batteries]}}
  - {{name: instruction, template: "Explain in two sentences how {{{{ topic }}}} work."}}
  - {{name: output, llm: text, prompt: "{{{{ instruction }}}}"}}
  - {{filter: exact_dedup}}
"""
)
datagen("validate", str(pipeline))
datagen("run", str(pipeline), "-o", str(out / "questions_run"), "--no-progress")
report = json.loads((out / "questions_run" / "report.json").read_text())
print(
    f"pipeline wrote {report['written']} rows with {report['requests']} requests; see {report['outputs'][0]}"
)
