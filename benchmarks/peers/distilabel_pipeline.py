"""distilabel's side of ``benchmarks/pipelines.py``: the same build (sampled topics, an LLM column, a
second LLM column over it, then rows whose summary is 86 characters or shorter dropped) against the
loopback server at BENCH_URL. Run with distilabel's own environment (``pip install distilabel
requests openai``)."""

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
    {"instruction": f"Write a short paragraph about {rng.choice(TOPICS)} (note {i})."} for i in range(rows)
]


@step(inputs=["answer"], outputs=["instruction"])
def ask_summary(inputs: StepInput):  # type: ignore[no-untyped-def]
    for row in inputs:
        row["instruction"] = f"Summarise in one sentence: {row['answer']}"
    yield inputs


@step(inputs=["summary"])
def long_enough(inputs: StepInput):  # type: ignore[no-untyped-def]
    yield [row for row in inputs if len(row["summary"] or "") > 86]


def llm() -> OpenAILLM:
    return OpenAILLM(model="bench-model", base_url=os.environ["BENCH_URL"], api_key="sk-bench")


with Pipeline(name="bench") as pipeline:
    load = LoadDataFromDicts(data=data, batch_size=100)
    answer = TextGeneration(llm=llm(), output_mappings={"generation": "answer"}, input_batch_size=100)
    summary = TextGeneration(llm=llm(), output_mappings={"generation": "summary"}, input_batch_size=100)
    load >> answer >> ask_summary() >> summary >> long_enough()

if __name__ == "__main__":
    distiset = pipeline.run(use_cache=False)
    frame = distiset["default"]["train"]
    print(f"{rows} rows made, {len(frame)} kept")
