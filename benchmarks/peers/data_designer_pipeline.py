"""NeMo Data Designer's side of ``benchmarks/pipelines.py``: the same build (a category sampler, an LLM
column, a second LLM column over it, then rows whose summary is 86 characters or shorter dropped)
against the loopback server at BENCH_URL.
Run with Data Designer's own environment (``pip install data-designer``).

For the ``kill -9`` trials: BENCH_RESUME=1 creates with ``ResumeMode.IF_POSSIBLE`` (its resume;
``ALWAYS`` refuses a first run) under BENCH_CACHE, BENCH_GROUP sets the row group (``buffer_size``),
BENCH_KEEP_ALL=1 keeps every row and BENCH_IDS names a file that receives the final rows' ids (their
``note`` UUIDs)."""

import json
import os

import data_designer.config as dd
from data_designer.interface.data_designer import DataDesigner

TOPICS = ["tides", "volcanoes", "bread", "batteries", "bridges", "bees", "glaciers", "vaccines"]
rows = int(os.environ["BENCH_ROWS"])
provider = dd.ModelProvider(name="loopback", endpoint=os.environ["BENCH_URL"], api_key="sk-bench")
model = dd.ModelConfig(
    alias="m", model="bench-model", provider="loopback", skip_health_check=True,
    inference_parameters=dd.ChatCompletionInferenceParams(max_tokens=256),
)  # fmt: skip
builder = dd.DataDesignerConfigBuilder(model_configs=[model])
builder.add_column(
    dd.SamplerColumnConfig(
        name="topic", sampler_type="category", params=dd.CategorySamplerParams(values=TOPICS)
    )
)
builder.add_column(dd.SamplerColumnConfig(name="note", sampler_type="uuid", params=dd.UUIDSamplerParams()))
builder.add_column(
    dd.LLMTextColumnConfig(
        name="answer", model_alias="m", prompt="Write a short paragraph about {{ topic }} (note {{ note }})."
    )
)
builder.add_column(
    dd.LLMTextColumnConfig(name="summary", model_alias="m", prompt="Summarise in one sentence: {{ answer }}")
)
designer = DataDesigner(artifact_path=os.environ.get("BENCH_CACHE", "artifacts"), model_providers=[provider])
if os.environ.get("BENCH_GROUP"):
    designer.set_run_config(dd.RunConfig(buffer_size=int(os.environ["BENCH_GROUP"])))
resume = dd.ResumeMode.IF_POSSIBLE if os.environ.get("BENCH_RESUME") == "1" else dd.ResumeMode.NEVER
result = designer.create(builder, num_records=rows, resume=resume)
frame = result.load_dataset()
kept = frame if os.environ.get("BENCH_KEEP_ALL") == "1" else frame[frame["summary"].str.len() > 86]
if os.environ.get("BENCH_IDS"):
    with open(os.environ["BENCH_IDS"], "w") as fh:
        json.dump([str(n) for n in kept["note"]], fh)
print(f"{len(frame)} rows made, {len(kept)} kept")
