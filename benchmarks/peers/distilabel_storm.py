"""distilabel's side of ``benchmarks/storm.py``: BENCH_ROWS rows of one LLM column against the loopback
server at BENCH_URL, BENCH_CONCURRENCY requests at once (``input_batch_size``: distilabel sends a
batch's requests together). Run with distilabel's own environment (``pip install distilabel requests
openai``)."""

import os

from distilabel.models import OpenAILLM
from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts
from distilabel.steps.tasks import TextGeneration

rows = int(os.environ["BENCH_ROWS"])
batch = int(os.environ["BENCH_CONCURRENCY"])
data = [{"instruction": f"Write a one-line fact about the number {i}."} for i in range(rows)]

with Pipeline(name="storm", cache_dir=os.environ.get("BENCH_CACHE")) as pipeline:
    load = LoadDataFromDicts(data=data, batch_size=batch)
    llm = OpenAILLM(
        model="bench-model", base_url=os.environ["BENCH_URL"], api_key="sk-bench",
        generation_kwargs={"max_new_tokens": 64},
    )  # fmt: skip
    load >> TextGeneration(llm=llm, input_batch_size=batch)

if __name__ == "__main__":
    frame = pipeline.run(use_cache=False)["default"]["train"]
    print(f"ROWS {sum(1 for g in frame['generation'] if g)}")
