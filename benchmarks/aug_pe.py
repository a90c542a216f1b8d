"""aug_pe's utility and leakage on real review sentences, at epsilon = 1, 4 and infinity, in one run.

    python benchmarks/aug_pe.py [--private 500] [--population 60] [--rounds 2] [--count 40]

Data: examples/data/sentiment_labelled_sentences (Kotzias et al. 2015): 3,000 real review sentences
labelled positive / negative. ``--private`` of them, balanced, are the private set (with 5 canary
sentences planted); another 500 are held out. For each epsilon, aug_pe makes ``--count`` synthetic
sentences with the label as condition (the label counts released through the same budget), on the
embedded model, offline. Utility: a nearest-centroid classifier on all-MiniLM-L6-v2 embeddings trained on
the synthetic sentences, accuracy on the held-out real ones (beside the same classifier trained on the
private set itself, and chance, 0.5); and the cosine between the synthetic and the private embedding
centroids. Leakage: the audit at each epsilon (exact copies, near-verbatim runs, canaries). Nothing is
asserted; the numbers are printed.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np

import datagen
from datagen._app.audit import audit, plant_canaries
from datagen._text.embeddings import Embedder

DATA = Path(__file__).resolve().parents[1] / "examples" / "data" / "sentiment_labelled_sentences"


def load(n_private: int, seed: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    rows = []
    for path in sorted(DATA.glob("*_labelled.txt")):
        for line in path.read_text().splitlines():
            text, _, label = line.rpartition("\t")
            if text.strip() and label.strip() in {"0", "1"}:
                rows.append((text.strip(), "positive" if label.strip() == "1" else "negative"))
    random.Random(seed).shuffle(rows)
    half = n_private // 2
    private = [r for r in rows if r[1] == "positive"][:half] + [r for r in rows if r[1] == "negative"][:half]
    chosen = set(private)
    return private, [r for r in rows if r not in chosen][:500]


def centroid_accuracy(embedder: Embedder, train: list[tuple[str, str]], test: list[tuple[str, str]]) -> float:
    vectors = embedder.encode([t for t, _ in train])
    centroids = {}
    for label in ("positive", "negative"):
        mine = [i for i, (_, lb) in enumerate(train) if lb == label]
        if not mine:
            return 0.5
        c = vectors[mine].mean(axis=0)
        centroids[label] = c / np.linalg.norm(c)
    test_vectors = embedder.encode([t for t, _ in test])
    labels = list(centroids)
    scores = test_vectors @ np.stack([centroids[lb] for lb in labels]).T
    guesses = [labels[i] for i in scores.argmax(axis=1)]
    return float(np.mean([g == lb for g, (_, lb) in zip(guesses, test, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--private", type=int, default=500)
    parser.add_argument("--population", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    private, held_out = load(args.private, args.seed)
    embedder = Embedder()
    real_accuracy = centroid_accuracy(embedder, private, held_out)
    private_centroid = embedder.encode([t for t, _ in private]).mean(axis=0)
    print(
        f"private {len(private)} sentences, held out {len(held_out)}; "
        f"classifier trained on the private set: accuracy {real_accuracy:.3f} (chance 0.5)"
    )
    print(
        f"{'epsilon':>8} {'sigma':>7} {'records':>8} {'accuracy':>9} {'centroid cos':>13} {'copies':>7} "
        f"{'>=8 words':>10} {'canaries':>9} {'time':>7}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "private.jsonl"
        rows = [{"id": f"p{i}", "output": t, "metadata": {"label": lb}} for i, (t, lb) in enumerate(private)]
        source.write_text("".join(json.dumps(row) + "\n" for row in rows))
        planted = Path(tmp) / "planted.jsonl"
        canaries = plant_canaries(source, planted, 5, seed=args.seed)
        for epsilon in (1.0, 4.0, float("inf")):
            options = {
                "private": str(planted), "epsilon": epsilon,
                "population": args.population, "rounds": args.rounds, "label_field": "label",
                "prompt": "a one-sentence review of a product, a film or a restaurant", "max_tokens": 48,
                "label_prompts": {  # public knowledge: what the labels mean
                    "positive": "a one-sentence positive review, full of praise, of a product or a film",
                    "negative": "a one-sentence negative review, a complaint, of a product or a film",
                },
                "seed": args.seed,
            }  # fmt: skip
            start = time.perf_counter()
            generator = datagen.Generator({"cache": {"enabled": False}, "sampling": {"max_tokens": 48}})
            results = generator.run("aug_pe", [], args.count, **options)
            took = time.perf_counter() - start
            synthetic = [(r.output or "", str(r.metadata.get("label"))) for r in results]
            accuracy = centroid_accuracy(embedder, synthetic, held_out) if synthetic else float("nan")
            centroid = embedder.encode([t for t, _ in synthetic]).mean(axis=0)
            cos = float(
                centroid @ private_centroid / np.linalg.norm(centroid) / np.linalg.norm(private_centroid)
            )
            found = audit(datagen.Results.load(planted), list(results), canaries=canaries)
            sigma = results[0].metadata["dp"]["noise_multiplier"] if len(results) else float("nan")
            label = "inf" if epsilon == float("inf") else f"{epsilon:g}"
            leaked = f"{found['canaries']['reappeared']}/{len(canaries)}"
            print(
                f"{label:>8} {sigma:7.3f} {len(results):8d} {accuracy:9.3f} {cos:13.3f} "
                f"{found['exact_copies']:7d} {found['near_verbatim']:10d} {leaked:>9} {took:6.0f}s"
            )


if __name__ == "__main__":
    main()
