"""The request engine: concurrency, rate limits, retries, the response cache, batch APIs, pricing and
structured output."""
