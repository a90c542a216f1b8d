"""``diversity``: lexical diversity of one text field (``output`` by default).

- distinct-n (n = 1, 2, 3): distinct n-grams over all n-grams of the dataset (Li et al. 2016);
- n-gram entropy (bits) of the same n-gram distributions;
- MTLD (McCarthy and Jarvis 2010, factor threshold 0.72, forward and backward averaged): the mean over
  records of 10 words or more, and over the sampled texts read as one text;
- compression ratio: the dataset's bytes over their gzip size, compressed as they stream (Shaib et al.
  2024; higher = more repetitive);
- self-BLEU (Zhu et al. 2018): each of ``sample`` sampled texts scored with sacrebleu's sentence BLEU
  against the other sampled texts as references, averaged (higher = more alike); the sample size is
  reported, so the cost is bounded whatever the dataset's size. Skipped, with the reason, without sacrebleu.

The n-gram counters hold each distinct n-gram once: exact distinct-n needs memory that grows with the
number of distinct n-grams (everything else is bounded).
"""

from __future__ import annotations

import math
import random
import zlib
from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from datagen.plugin import RegisterMetric, Results, bounded, hookimpl
from datagen_plugins.metrics._common import check_field, texts, words

MTLD_THRESHOLD = 0.72


def _mtld_pass(tokens: list[str]) -> float:
    factors, types, count = 0.0, set(), 0
    for token in tokens:
        types.add(token)
        count += 1
        if len(types) / count <= MTLD_THRESHOLD:
            factors += 1
            types, count = set(), 0
    if count:
        ttr = len(types) / count
        factors += (1 - ttr) / (1 - MTLD_THRESHOLD) if ttr < 1 else 0.0
    return len(tokens) / factors if factors else float(len(tokens))


def mtld(tokens: list[str]) -> float:
    """MTLD: the mean length of the runs of words that keep the type-token ratio above 0.72, forward
    and backward averaged."""
    if not tokens:
        return 0.0
    return (_mtld_pass(tokens) + _mtld_pass(tokens[::-1])) / 2


def entropy(counts: Counter[Any]) -> float:
    """Shannon entropy, in bits, of a count distribution."""
    total = sum(counts.values())
    return -sum(c / total * math.log2(c / total) for c in counts.values()) if total else 0.0


@attrs.define
class DiversityConfig:
    """Options of ``[metric.diversity]``."""

    field: str = "output"
    sample: int = attrs.field(default=200, validator=bounded(2))
    mtld_min_words: int = attrs.field(default=10, validator=bounded(1))
    seed: int = 0


class Diversity:
    """Distinct-n, n-gram entropy, MTLD, compression ratio, self-BLEU."""

    name: ClassVar[str] = "diversity"
    #: computed when no metric is named (``datagen metrics FILE``, ``compute(results)``), in this order
    default: ClassVar[int] = 2
    #: relative cost, heaviest first when metrics run in parallel workers
    cost: ClassVar[int] = 2
    Config: ClassVar[type[Any]] = DiversityConfig

    def __init__(self, config: DiversityConfig) -> None:
        check_field(config.field, "$.metric.diversity.field")
        self.config = config

    @staticmethod
    def cards(values: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """A report's summary figure: distinct-2."""
        return [("distinct-2", values["distinct_2"])] if "distinct_2" in values else []

    def compute(self, results: Results) -> dict[str, Any]:
        """The diversity of the configured field's texts."""
        c = self.config
        grams: dict[int, Counter[tuple[str, ...]]] = {n: Counter() for n in (1, 2, 3)}
        per_record: list[float] = []
        packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip, streamed: constant memory
        raw_bytes = packed_bytes = 0
        sample: list[str] = []
        rng = random.Random(c.seed)
        n_texts = 0
        for text in texts(results, c.field):
            n_texts += 1
            tokens = words(text)
            for n, counter in grams.items():
                counter.update(zip(*(tokens[k:] for k in range(n)), strict=False))
            if len(tokens) >= c.mtld_min_words:
                per_record.append(mtld(tokens))
            data = text.encode() + b"\n"
            raw_bytes += len(data)
            packed_bytes += len(packer.compress(data))
            if len(sample) < c.sample:  # reservoir sampling: a uniform sample of any stream
                sample.append(text)
            elif (j := rng.randrange(n_texts)) < c.sample:
                sample[j] = text
        if n_texts == 0:
            return {"skipped": f"no {c.field} text"}
        out: dict[str, Any] = {"texts": n_texts, "field": c.field}
        for n, counter in grams.items():
            total = sum(counter.values())
            out[f"distinct_{n}"] = round(len(counter) / total, 6) if total else 0.0
            out[f"entropy_{n}"] = round(entropy(counter), 6)
        out["mtld_mean"] = round(sum(per_record) / len(per_record), 4) if per_record else None
        # MTLD of the sampled texts read as one text (bounded, like self-BLEU's sample)
        out["mtld_sample"] = round(mtld([w for text in sample for w in words(text)]), 4)
        packed_bytes += len(packer.flush())
        out["compression_ratio"] = round(raw_bytes / packed_bytes, 4)
        out["self_bleu"] = self_bleu(sample)
        return out


def self_bleu(sample: list[str]) -> dict[str, Any]:
    """Mean sentence BLEU (sacrebleu) of each sampled text against the others.

    The score of each text is sacrebleu's ``BLEU(effective_order=True).sentence_score(text, others)``
    to the last digit (``tests/test_metrics.py`` checks), computed from each text's n-grams counted
    once: sacrebleu would count every reference's n-grams again for each text (a sample of 200 read
    39,800 references), here the highest count of an n-gram among the other texts is the highest
    overall unless this text holds it, then the second highest."""
    if len(sample) < 2:
        return {"skipped": "fewer than two texts"}
    try:
        from sacrebleu.metrics import BLEU
        from sacrebleu.metrics.helpers import extract_all_word_ngrams
    except ImportError:
        return {"skipped": "sacrebleu is not installed: pip install 'datagen[metrics]'"}
    bleu = BLEU(effective_order=True)
    counted = [
        extract_all_word_ngrams(bleu._preprocess_segment(text), 1, bleu.max_ngram_order) for text in sample
    ]
    lengths = [length for _, length in counted]
    best: dict[tuple[str, ...], list[int]] = {}  # n-gram: [highest count, its text, second highest]
    for i, (grams, _) in enumerate(counted):
        for gram, count in grams.items():
            top = best.setdefault(gram, [0, -1, 0])
            if count > top[0]:
                top[:] = [count, i, top[0]]
            elif count > top[2]:
                top[2] = count
    scores = []
    for i, (grams, length) in enumerate(counted):
        correct, total = [0] * bleu.max_ngram_order, [0] * bleu.max_ngram_order
        for gram, count in grams.items():
            top = best[gram]
            total[len(gram) - 1] += count
            correct[len(gram) - 1] += min(count, top[2] if top[1] == i else top[0])
        ref_len = bleu._get_closest_ref_len(length, lengths[:i] + lengths[i + 1 :])
        scores.append(bleu._compute_score_from_stats([length, ref_len, *correct, *total]).score)
    return {"mean": round(sum(scores) / len(scores), 4), "sample": len(sample)}


@hookimpl
def datagen_register_metrics(register: RegisterMetric) -> None:
    """Register the diversity metric."""
    register(Diversity)
