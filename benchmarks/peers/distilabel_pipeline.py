"""distilabel's side of ``benchmarks/pipelines.py``: the same build (sampled topics, an LLM column, a
second LLM column over it, then rows whose summary is 86 characters or shorter dropped) against the
loopback server at BENCH_URL. Run with distilabel's own environment (``pip install distilabel
requests openai``).

For the ``kill -9`` trials: BENCH_RESUME=1 runs with distilabel's cache (``use_cache=True``, its
resume) in BENCH_CACHE, BENCH_GROUP sets the batch size, BENCH_KEEP_ALL=1 keeps every row (no length
filter, so every row should arrive) and BENCH_IDS names a file that receives the final rows' ids."""

import json
import os
import random

from distilabel.models import OpenAILLM
from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts, StepInput, step
from distilabel.steps.tasks import TextGeneration

TOPICS = ["tides", "volcanoes", "bread", "batteries", "bridges", "bees", "glaciers", "vaccines"]
rows = int(os.environ["BENCH_ROWS"])
rng = random.Random(0)
data = [
    {"row_id": i, "instruction": f"Write a short paragraph about {rng.choice(TOPICS)} (note {i})."}
    for i in range(rows)
]
group = int(os.environ.get("BENCH_GROUP", "100"))
resume = os.environ.get("BENCH_RESUME") == "1"
keep_all = os.environ.get("BENCH_KEEP_ALL") == "1"


@step(inputs=["answer"], outputs=["instruction"])
def ask_summary(inputs: StepInput):  # type: ignore[no-untyped-def]
    for row in inputs:
        row["instruction"] = f"Summarise in one sentence: {row['answer']}"
    yield inputs


@step(inputs=["summary"])
def long_enough(inputs: StepInput):  # type: ignore[no-untyped-def]
    yield [row for row in inputs if keep_all or len(row["summary"] or "") > 86]


def llm() -> OpenAILLM:
    return OpenAILLM(model="bench-model", base_url=os.environ["BENCH_URL"], api_key="sk-bench")


with Pipeline(name="bench", cache_dir=os.environ.get("BENCH_CACHE")) as pipeline:
    load = LoadDataFromDicts(data=data, batch_size=group)
    answer = TextGeneration(llm=llm(), output_mappings={"generation": "answer"}, input_batch_size=group)
    summary = TextGeneration(llm=llm(), output_mappings={"generation": "summary"}, input_batch_size=group)
    load >> answer >> ask_summary() >> summary >> long_enough()

if __name__ == "__main__":
    distiset = pipeline.run(use_cache=resume)
    frame = distiset["default"]["train"]
    if os.environ.get("BENCH_IDS"):
        with open(os.environ["BENCH_IDS"], "w") as fh:
            json.dump([str(i) for i in frame["row_id"]], fh)
    print(f"{rows} rows made, {len(frame)} kept")
