"""A privacy audit of a synthetic dataset against the private data it came from.

- Verbatim and near-verbatim leakage: the longest run of consecutive words a synthetic text shares with
  any private text (found through an index of private word 3-grams), exact copies, and the share of
  synthetic word 8-grams that occur in the private data.
- Nearest neighbours in embedding space (with the ``embeddings`` extra): how close each synthetic text
  comes to its nearest private one.
- PII in the synthetic data, by type (the ``pii`` privacy plugin's detector).
- Canaries: :func:`plant_canaries` writes a copy of the private data with ``k`` random canary sentences
  planted, and a canary file; after generating from that copy, the audit says how many canaries came
  back and how much of each (the longest run of its words in any synthetic text).

:func:`audit` returns plain data; :func:`verdict` turns it into sentences that say what was found.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from datagen._datamodel.records import Record
from datagen._datamodel.results import iter_records, record_to_dict, write_file
from datagen.errors import UsageError

NEAR_VERBATIM = 8  # consecutive words shared: the conventional threshold for a memorised span
_WORD = re.compile(r"\w+")
_CANARY_WORDS = (
    "amber basalt cobalt dune ember fjord garnet harbor indigo jasper kelp lumen marble nectar onyx "
    "pewter quartz raven saffron tundra umber velvet willow xenon yarrow zephyr"
).split()


def words(text: str) -> list[str]:
    """Lower-cased word tokens."""
    return _WORD.findall(text.casefold())


def record_texts(record: Record) -> str:
    """Every text of a record, joined."""
    parts = [record.instruction, record.input, record.output]
    parts += [m.content for m in record.messages or ()]
    return "\n".join(p for p in parts if p)


class OverlapIndex:
    """Private texts indexed by word 3-grams (each kept for at most ``cap`` occurrences: a very common
    3-gram anchors nothing useful), for the longest shared run of words."""

    def __init__(self, texts: Sequence[str], cap: int = 64) -> None:
        self.docs = [words(t) for t in texts]
        self.index: defaultdict[tuple[str, str, str], list[tuple[int, int]]] = defaultdict(list)
        for d, tokens in enumerate(self.docs):
            for i in range(len(tokens) - 2):
                bucket = self.index[(tokens[i], tokens[i + 1], tokens[i + 2])]
                if len(bucket) < cap:
                    bucket.append((d, i))
        self.ngrams = {
            tuple(tokens[i : i + NEAR_VERBATIM])
            for tokens in self.docs
            for i in range(len(tokens) - NEAR_VERBATIM + 1)
        }

    def longest(self, text: str) -> tuple[int, int | None]:
        """The longest run of consecutive words ``text`` shares with a private text, and which one."""
        tokens = words(text)
        best, where = 0, None
        for i in range(len(tokens) - 2):
            for d, j in self.index.get((tokens[i], tokens[i + 1], tokens[i + 2]), ()):
                doc, n = self.docs[d], 3
                while i + n < len(tokens) and j + n < len(doc) and tokens[i + n] == doc[j + n]:
                    n += 1
                if n > best:
                    best, where = n, d
        if best == 0 and tokens and any(tokens == doc for doc in self.docs if len(doc) < 3):
            best = len(tokens)
        return best, where

    def ngram_share(self, text: str) -> tuple[int, int]:
        """(the synthetic text's word 8-grams found in the private data, all its word 8-grams)."""
        tokens = words(text)
        grams = [tuple(tokens[i : i + NEAR_VERBATIM]) for i in range(len(tokens) - NEAR_VERBATIM + 1)]
        return sum(g in self.ngrams for g in grams), len(grams)


def plant_canaries(
    private: Path, out: Path, k: int, *, seed: int = 0, field: str = "output"
) -> list[dict[str, Any]]:
    """Copy ``private`` to ``out`` with ``k`` canary sentences appended to random records' ``field``;
    write ``out`` + ``.canaries.json`` and return the canaries."""
    records = list(iter_records(private))
    if k < 1 or k > len(records):
        raise UsageError(f"--canaries {k}: must be between 1 and the {len(records)} private records")
    if field not in {"instruction", "input", "output"}:
        raise UsageError(f"--field {field}: expected instruction, input or output")
    rng = random.Random(seed)
    chosen = rng.sample(range(len(records)), k)
    canaries = []
    for n, i in enumerate(chosen):
        secret = " ".join(rng.choice(_CANARY_WORDS) for _ in range(4)) + f" {rng.randrange(10**6):06d}"
        sentence = f"The access phrase is {secret}."
        old = getattr(records[i], field) or ""
        records[i] = records[i].evolve(**{field: f"{old} {sentence}".strip()})
        canaries.append({"canary": n, "record": records[i].id, "text": sentence})
    lines = (json.dumps(record_to_dict(record), ensure_ascii=False) + "\n" for record in records)
    write_file(out, "".join(lines))
    write_file(out.with_name(out.name + ".canaries.json"), json.dumps(canaries, indent=2))
    return canaries


def _quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def q(p: float) -> float:
        return float(ordered[min(len(ordered) - 1, int(p * len(ordered)))])

    return {"median": q(0.5), "p95": q(0.95), "max": float(ordered[-1])}


def audit(
    private: Iterable[Record],
    synthetic: Iterable[Record],
    *,
    canaries: Sequence[dict[str, Any]] = (),
    pii: Any = None,
    embedder: Any = None,
) -> dict[str, Any]:
    """The audit's findings as plain data (see the module's docstring)."""
    private_texts = [record_texts(r) for r in private]
    synthetic_texts = [record_texts(r) for r in synthetic]
    if not private_texts or not synthetic_texts:
        raise UsageError("the audit needs at least one private and one synthetic record")
    index = OverlapIndex(private_texts)
    normalised = {" ".join(words(t)) for t in private_texts}
    longest = [index.longest(t)[0] for t in synthetic_texts]
    shared = [index.ngram_share(t) for t in synthetic_texts]
    found = sum(f for f, _ in shared)
    total = sum(t for _, t in shared)
    out: dict[str, Any] = {
        "private_records": len(private_texts),
        "synthetic_records": len(synthetic_texts),
        "exact_copies": sum(" ".join(words(t)) in normalised for t in synthetic_texts),
        "longest_shared_words": _quantiles([float(v) for v in longest]),
        "near_verbatim": sum(v >= NEAR_VERBATIM for v in longest),
        "near_verbatim_threshold_words": NEAR_VERBATIM,
        "shared_8gram_share": round(found / total, 6) if total else 0.0,
    }
    if embedder is not None:
        import numpy as np

        p = embedder.encode(private_texts)
        s = embedder.encode(synthetic_texts)
        nearest = np.max(s @ p.T, axis=1)
        out["nearest_neighbour_cosine"] = {
            **{k: round(v, 4) for k, v in _quantiles([float(x) for x in nearest]).items()},
            "above_0.95": int((nearest >= 0.95).sum()),
        }
    if pii is not None:
        counts: Counter[str] = Counter()
        for entities in pii.find(synthetic_texts):
            counts.update(e.type for e in entities)
        out["pii_in_synthetic"] = dict(counts.most_common())
    if canaries:
        results = []
        for canary in canaries:
            tokens = words(canary["text"])
            single = OverlapIndex([canary["text"]])
            runs = [single.longest(t)[0] for t in synthetic_texts]
            exact = sum(" ".join(tokens) in " ".join(words(t)) for t in synthetic_texts)
            results.append(
                {
                    "canary": canary["canary"],
                    "exact_reappearances": exact,
                    "longest_share": round(max(runs, default=0) / len(tokens), 3),
                }
            )
        out["canaries"] = {
            "planted": len(canaries),
            "reappeared": sum(r["exact_reappearances"] > 0 for r in results),
            "partly": sum(r["longest_share"] >= 0.5 for r in results),
            "each": results,
        }
    return out


def verdict(found: dict[str, Any]) -> list[str]:
    """Plain sentences about what the audit found."""
    n = found["synthetic_records"]
    lines = [
        f"{found['exact_copies']} of {n} synthetic records copy a private record exactly.",
        f"{found['near_verbatim']} of {n} share {found['near_verbatim_threshold_words']} or more consecutive "
        f"words with a private record (longest: {found['longest_shared_words'].get('max', 0):.0f} words).",
        f"{found['shared_8gram_share']:.2%} of the synthetic word 8-grams occur in the private data.",
    ]
    if "nearest_neighbour_cosine" in found:
        nn = found["nearest_neighbour_cosine"]
        lines.append(
            f"Nearest private neighbour in embedding space: median cosine {nn['median']}, max {nn['max']}; "
            f"{nn['above_0.95']} synthetic records at 0.95 or above."
        )
    if "pii_in_synthetic" in found:
        pii = found["pii_in_synthetic"]
        lines.append(
            "PII in the synthetic data: "
            + (", ".join(f"{v} {k}" for k, v in pii.items()) if pii else "none found.")
        )
    if "canaries" in found:
        c = found["canaries"]
        lines.append(
            f"Canaries: {c['reappeared']} of {c['planted']} reappeared verbatim; {c['partly']} had half "
            "or more of their words reproduced in a row."
        )
    return lines
