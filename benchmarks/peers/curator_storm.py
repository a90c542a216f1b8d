"""Bespoke Curator's side of ``benchmarks/storm.py``: BENCH_ROWS one-answer rows against the loopback
server at BENCH_URL, at most BENCH_CONCURRENCY requests in flight (``max_concurrent_requests``) and a
requests-per-minute allowance that never binds (so only concurrency is compared). Run with Curator's
own environment (``pip install bespokelabs-curator``); its tokenizer file is read from the copy
LiteLLM ships instead of being downloaded."""

import importlib.util
import os

litellm = importlib.util.find_spec("litellm")
assert litellm is not None and litellm.origin is not None
os.environ.setdefault(
    "TIKTOKEN_CACHE_DIR", os.path.join(os.path.dirname(litellm.origin), "litellm_core_utils", "tokenizers")
)
os.environ.setdefault("CURATOR_DISABLE_CACHE", "true")

from bespokelabs import curator  # noqa: E402

rows = int(os.environ["BENCH_ROWS"])
llm = curator.LLM(
    model_name="gpt-4o-mini",
    backend="openai",
    backend_params={
        "base_url": os.environ["BENCH_URL"],
        "api_key": "sk-bench",
        "max_concurrent_requests": int(os.environ["BENCH_CONCURRENCY"]),
        "max_requests_per_minute": 1_000_000,
        "max_tokens_per_minute": 1_000_000_000,
    },
    generation_params={"max_tokens": 64},
)
out = llm([f"Write a one-line fact about the number {i}." for i in range(rows)])
print(f"ROWS {sum(1 for r in out.dataset['response'] if r)}")
