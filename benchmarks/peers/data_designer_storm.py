"""NeMo Data Designer's side of ``benchmarks/storm.py``: BENCH_ROWS rows of one LLM column against the
loopback server at BENCH_URL, at most BENCH_CONCURRENCY requests in flight (``max_parallel_requests``,
the ceiling of its AIMD). Run with Data Designer's own environment (``pip install data-designer``)."""

import os

import data_designer.config as dd
from data_designer.interface.data_designer import DataDesigner

provider = dd.ModelProvider(name="loopback", endpoint=os.environ["BENCH_URL"], api_key="sk-bench")
params = dd.ChatCompletionInferenceParams(
    max_tokens=64, max_parallel_requests=int(os.environ["BENCH_CONCURRENCY"])
)
model = dd.ModelConfig(
    alias="m", model="bench-model", provider="loopback", skip_health_check=True, inference_parameters=params
)
builder = dd.DataDesignerConfigBuilder(model_configs=[model])
builder.add_column(dd.SamplerColumnConfig(name="n", sampler_type="uuid", params=dd.UUIDSamplerParams()))
builder.add_column(
    dd.LLMTextColumnConfig(name="fact", model_alias="m", prompt="Write a one-line fact about {{ n }}.")
)
designer = DataDesigner(artifact_path=os.environ.get("BENCH_CACHE", "artifacts"), model_providers=[provider])
frame = designer.create(builder, num_records=int(os.environ["BENCH_ROWS"])).load_dataset()
print(f"ROWS {int(frame['fact'].notna().sum())}")
