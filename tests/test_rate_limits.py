"""The default engine against a busy server (occasional 429s) and against an enforced rate limit."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from datagen._datamodel.config import EngineConfig
from datagen._engine.core import ADAPTIVE_START, Engine
from datagen._engine.llm import Request
from datagen.testing_server import Behaviour, LoopbackServer
from datagen_plugins.backends.anthropic_backend import AnthropicBackend, AnthropicConfig
from datagen_plugins.backends.litellm_backend import LiteLLMBackend, LiteLLMConfig
from datagen_plugins.backends.openai_backend import OpenAIBackend, OpenAIConfig

KEY = "sk-test-abcdefghijklmnop0123"


async def send_all(srv: LoopbackServer, n: int, **config: object) -> Engine:
    backend = OpenAIBackend(OpenAIConfig(base_url=srv.url + "/v1", api_key=KEY))
    engine = Engine(backend, EngineConfig(**config), backend_name="openai")  # type: ignore[arg-type]
    try:
        requests = [Request(prompt=f"request {i}", max_tokens=8) for i in range(n)]
        await asyncio.gather(*(engine.complete(r) for r in requests))
    finally:
        await engine.aclose()
    return engine


def test_occasional_429s_without_retry_after_do_not_throttle_the_default() -> None:
    behaviour = Behaviour(latency_s=0.05, error_rate=0.05, error_kinds=("429", "500"), retry_after_ms=None)
    with LoopbackServer(behaviour) as srv:
        engine = asyncio.run(send_all(srv, 600))
        assert srv.errors["429"] > 5 and engine.stats.retries == sum(srv.errors.values())
        assert engine.limit.decreases == 0 and engine.limit.limit > ADAPTIVE_START
        assert srv.peak_in_flight > ADAPTIVE_START  # it kept ramping up through the errors
        assert engine._cooldown_until == 0.0  # and never paused everything


def test_occasional_429s_with_retry_after_teach_no_pace() -> None:
    """A busy server's occasional 429 with a short Retry-After is not a spent budget: learning a pace
    from each one (requests accepted since the previous one, counted before their answers were in)
    used to lower the pace at every 429 until the run crawled."""
    behaviour = Behaviour(latency_s=0.1, error_rate=0.05, error_kinds=("429",), retry_after_ms=20, seed=3)
    with LoopbackServer(behaviour) as srv:
        engine = asyncio.run(send_all(srv, 1000, max_concurrency=64))
        assert sum(srv.answered.values()) == 1000 and srv.errors["429"] > 20
        assert engine._rpm is None  # no pace was learned
        # nor did the limit come down: every slot stays open (how many are in flight at once also
        # depends on the short pauses each Retry-After asks for, which a loaded machine stretches: 31
        # of 64 at most in one CI run)
        limit = engine.limit
        state = (limit.limit, limit.decreases, limit.caps, limit.base_latency, srv.peak_in_flight, srv.errors)
        # (one CI run ended at 28.07 with a cap: the first round trip's answers, which open the
        # connections, were slow enough on a loaded machine that the next round's first 429 looked
        # refused at the door; tests/test_engine.py plays it in virtual time, and answers up to a
        # window now judge such a cap again. Should it fail again, the state says which signal acted)
        assert limit.limit == 64 and limit.decreases == 0 and limit.caps == 0, state


@pytest.mark.parametrize(
    ("headers", "in_flight"),
    [(True, None), (False, None)],
    ids=["with-headers", "retry-after-only"],
)
def test_an_enforced_limit_is_respected_with_few_429s(headers: bool, in_flight: int | None) -> None:
    """1,200 requests per minute, counted over a 2 s window: 40 per window, 100 requests to send. (A
    case at 8 in flight was removed: in CI its first exhaustion refused a single request, too few to
    teach a pace, as on a loaded machine here; see benchmarks/README.md, budget.)"""
    config = {} if in_flight is None else {"max_concurrency": in_flight}
    behaviour = Behaviour(
        latency_s=0.02,
        enforce_limit=True,
        requests_per_minute=1200,
        limit_window_s=2.0,
        rate_limit_headers=headers,
    )
    with LoopbackServer(behaviour) as srv:
        engine = asyncio.run(send_all(srv, 100, **config))
        assert sum(srv.answered.values()) == 100 and engine.stats.failed == 0
        if headers:
            # the first answer announces the limit: the engine paces at 0.95 of it from then on, and
            # the requests slow start sent before are charged to the pace (a wait), so the window
            # never fills (7 refused when that first burst went uncharged; 2 allows a network jitter
            # that brings two sends together at the server)
            assert srv.limited <= 2 and engine._rpm is not None
            return
        # without headers, slow start's first burst meets the limit: after it the engine paces itself
        # at what the server let through. That burst overshoots the 40 allowed by up to what is
        # in flight when the first 429 lands, at most 8 + 40 (slow start adds one slot per answer): 16
        # to 21 refused in runs here, 30 on a loaded machine. On a loaded machine the first burst may
        # also refuse too few, not in a row, to show a spent budget (the open case of
        # benchmarks/README.md, budget; 2 of the last 4 CI runs): the limit is then met once more as the
        # window reopens (2 s later), and that burst teaches the pace: at most 48 refused in it, and
        # under 10 in the first (fewer than 5 in a row, under 20 % of about 50). Never after: a pace too
        # fast, or none, would meet the limit again 4 s in, as the third window opens.
        spread = max(srv.limited_at) - min(srv.limited_at)
        assert 0 < srv.limited <= 48 + 10 and spread < 3.0
        # the pace is learned from that burst's timing: 0.95 of the limit when the loop is idle, down
        # to 0.79 seen in a full py312 run; benchmarks/clients.py measures the real use (0.90-0.93)
        assert engine._rpm is not None and 0.7 * 20 <= engine._rpm.rate_per_s <= 20


def most_in_a_window(times: list[float], window_s: float) -> int:
    """The most of ``times`` (sorted) inside any ``window_s`` span."""
    first, most = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= window_s:
            first += 1
        most = max(most, last - first + 1)
    return most


@pytest.mark.parametrize(
    ("counts", "provider", "charge"),
    [("reserved", "openai", "reserved"), ("reserved", "openai", "used"), ("used", "anthropic", "auto")],
    ids=[
        "openai-counts-what-a-request-may-use",
        "charged-as-used-against-it",
        "anthropic-counts-what-was-used",
    ],
)
def test_a_token_limit_is_charged_as_the_server_counts_it(counts: str, provider: str, charge: str) -> None:
    """A configured ``tokens_per_minute``, 79,200 (1,320 a second), against a server enforcing it.
    Each request may use 66 tokens (its 2 words and ``max_tokens`` 64) and uses about 8.

    OpenAI counts what a request may use, when it arrives (here over 2 s windows: 40 requests): the
    engine charges its estimate (``reserved``: what ``auto`` is at OpenAI's own URL, below), gives
    nothing back, and meets at most the refusals of its bucket's first tenth of a second (2 here).
    Charged as if the server counted what was used (how the engine charged every server before), its
    bucket let 2.5 windows' worth go at once, and slow start met the limit.

    Anthropic counts output at ``max_tokens`` when a request arrives and at what it used once
    answered, and refills up to a minute's worth (here a 6 s window, which holds the engine's 5 s
    burst): the engine gives back what was not used, and sends more in a window than charging the
    estimates would let it (120), with none refused."""
    window, n = (2.0, 100) if counts == "reserved" else (6.0, 200)
    behaviour = Behaviour(
        latency_s=0.02,
        enforce_tokens=True,
        tokens_per_minute=79_200,
        limit_window_s=window,
        token_charge=counts,
    )
    with LoopbackServer(behaviour) as srv:
        if provider == "openai":
            backend: Any = OpenAIBackend(OpenAIConfig(base_url=srv.url + "/v1", api_key=KEY))
        else:
            backend = AnthropicBackend(AnthropicConfig(base_url=srv.url, api_key=KEY))
        engine = Engine(backend, EngineConfig(tokens_per_minute=79_200, token_charge=charge))

        async def send() -> None:
            try:
                requests = [Request(prompt=f"request {i}", max_tokens=64) for i in range(n)]
                await asyncio.gather(*(engine.complete(r) for r in requests))
            finally:
                await engine.aclose()

        asyncio.run(send())
        assert sum(srv.answered.values()) == n and engine.stats.failed == 0
        # the server counted each request at 66 when it arrived, and, counting what was used, at the
        # few tokens of its prompt and answer once answered
        counted = {c.tokens for c in srv.token_charges}
        assert counted == {66} if counts == "reserved" else max(counted) < 20
        admitted = most_in_a_window(sorted(c.at for c in srv.token_charges), window)
        if counts == "used":
            assert srv.limited == 0 and admitted > 120
        elif charge == "reserved":
            assert srv.limited <= 3
        else:  # what was in flight when the first 429 paused the engine: 19 in a run here
            assert srv.limited >= 8


def test_auto_charges_tokens_as_the_backends_server_counts_them() -> None:
    """OpenAI's own API and Azure OpenAI count what a request may use; a compatible server's limit
    (a proxy's, or one the user sets for a local server) is taken to count what was used, and so is
    Anthropic's output limit; a backend that says nothing is charged what its requests may use."""

    def gives_back(backend: Any, charge: str = "auto") -> bool:
        return Engine(backend, EngineConfig(token_charge=charge))._gives_back

    def openai(url: str | None) -> OpenAIBackend:
        return OpenAIBackend(OpenAIConfig(base_url=url, api_key=KEY))

    assert not gives_back(openai(None)) and not gives_back(openai("https://x.openai.azure.com/openai"))
    assert gives_back(openai("http://127.0.0.1:8000/v1"))
    assert not gives_back(openai("http://127.0.0.1:8000/v1"), "reserved")
    assert gives_back(AnthropicBackend(AnthropicConfig(api_key=KEY)))
    assert gives_back(LiteLLMBackend(LiteLLMConfig(model="anthropic/claude-3-5-haiku-latest")))
    assert not gives_back(LiteLLMBackend(LiteLLMConfig(model="openai/gpt-4o-mini")))

    class Unsaid:
        model, is_chat = "m", True

    assert not gives_back(Unsaid()) and gives_back(Unsaid(), "used")


def test_the_loopback_server_caps_or_queues_requests_in_flight() -> None:
    """The two server behaviours the concurrency benchmarks (``benchmarks/storm.py``) run
    against: a hard cap answers 429 with Retry-After above it; a queueing server never answers 429 and
    serves at most its slots at once."""
    with LoopbackServer(Behaviour(latency_s=0.05, max_in_flight=4, cap_retry_after_s=0)) as srv:
        engine = asyncio.run(send_all(srv, 40, max_concurrency=12, max_retries=50))
        assert sum(srv.answered.values()) == 40 and srv.errors["429-cap"] > 0
        assert srv.peak_in_flight <= 4 and engine.stats.retries == srv.errors["429-cap"]
    with LoopbackServer(Behaviour(latency_s=0.05, serve_at_once=3)) as srv:
        engine = asyncio.run(send_all(srv, 30, max_concurrency=12))
        assert sum(srv.answered.values()) == 30 and not srv.errors and engine.stats.retries == 0
        assert srv.peak_in_flight > 3  # more arrived than it served at once: the rest queued


@pytest.mark.parametrize("concurrency", [32, None], ids=["concurrency-32", "default"])
def test_a_concurrency_cap_is_learned_without_pausing_or_pacing(concurrency: int | None) -> None:
    """A server that serves 8 at once and answers 429 (Retry-After: 1) above that: the limit settles
    on 8 from the refused requests' count of others in flight; no engine-wide pause, no pace learned,
    few 429s (slow start's one overshoot, benchmarks/storm.py measures the share). 0.1 s of service:
    a loaded two-core machine stalled this process for 0.2 to 0.3 s now and then, and a refusal
    read after such a stall looks like one after the work at 0.05 s (benchmarks/wire_time.py)."""
    config = {} if concurrency is None else {"max_concurrency": concurrency}
    with LoopbackServer(Behaviour(latency_s=0.1, max_in_flight=8)) as srv:
        engine = asyncio.run(send_all(srv, 200, **config))
        assert sum(srv.answered.values()) == 200 and engine.stats.failed == 0
        assert srv.peak_in_flight == 8 and engine.limit.ceiling == 8
        assert engine._cooldown_until == 0.0 and engine._rpm is None
        assert 0 < srv.errors["429-cap"] <= 20


def test_a_queueing_server_is_held_at_its_knee() -> None:
    """A server that serves 8 at once and queues the rest, never a 429: latency doubles as slow start
    overshoots, a shrink shows the throughput held (a queue), and the limit stays at what the server
    serves at once; a fixed concurrency is left alone."""
    # 0.1 s of service: long against the scheduling noise of a loaded two-core machine
    with LoopbackServer(Behaviour(latency_s=0.1, serve_at_once=8)) as srv:
        engine = asyncio.run(send_all(srv, 600))
        assert sum(srv.answered.values()) == 600 and not srv.errors
        assert engine.limit.queue_seen and engine.limit.ceiling is not None
        assert 7 <= engine.limit.ceiling <= 10
    with LoopbackServer(Behaviour(latency_s=0.05, serve_at_once=8)) as srv:
        engine = asyncio.run(send_all(srv, 200, max_concurrency=16))
        assert not engine.limit.queue_seen and srv.peak_in_flight == 16
