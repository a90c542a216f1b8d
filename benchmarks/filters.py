"""Quality filters against the tools they replace, side by side on one synthetic corpus.

    python benchmarks/filters.py --peer-python /tmp/bench-venv/bin/python [--docs 100000] [--gopher-docs 5000]

The corpus: ``--docs`` documents of ~200 words drawn from a Zipf-distributed vocabulary, with 10 % near
copies (5-15 % of the words of an original replaced) and 2 % exact copies planted. The peers run in
their own environment (``--peer-python``: a Python with ``datasketch==2.0.0``, ``datatrove==0.10.1`` and
``xxhash``), in a subprocess, on the same corpus file; their decisions come back as JSON and are
compared record by record. One core each; nothing is asserted, ratios are printed.

- near_dedup: datagen's numpy MinHash + LSH against datasketch's fastest documented path
  (``MinHash.bulk`` with ``xxhash.xxh32_intdigest`` and ``MinHashLSH``), word 5-grams, 128 permutations,
  threshold 0.8: docs/s, and the recall of the planted near copies (how many are flagged at all), one
  seed; then the recall averaged over ``--recall-seeds`` hash seeds on a ``--recall-docs`` corpus.
- gopher: datagen's rules against datatrove's ``GopherQualityFilter`` and ``GopherRepetitionFilter``
  chained: docs/s and the share of documents with the same keep/drop decision, with the differences
  listed by rule.
- exact_dedup: 1,000,000 short records streamed through the stage: records/s.

``--whole-process N`` instead times near_dedup as users run it, a whole process from spawn to exit:
``datagen filter corpus.jsonl -o kept.jsonl --filter near_dedup`` against a script of datasketch's fastest
path reading and writing the same JSON Lines, on N Faker-made documents of 150-250 words in four locales
(``{"id", "text"}`` rows, as pretraining corpora are written) with 10 % near copies (0.5-2 % of the words
replaced) and 2 % exact copies; ``--runs`` interleaved runs each, medians, and the recall of the planted
copies by each tool.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

PEER = r"""
import json, sys, time
corpus, task = sys.argv[1], sys.argv[2]
docs = [json.loads(line) for line in open(corpus)]
out = {}
if task in ("near", "recall"):  # imported before any clock starts
    import xxhash
    from datasketch import MinHash, MinHashLSH
def near(seed):
    # the documented fastest path: shingles hashed with xxh32 in MinHash.bulk, then MinHashLSH
    shingles = []
    for d in docs:
        words = d["text"].lower().split()
        shingles.append([" ".join(words[i:i + 5]).encode() for i in range(max(1, len(words) - 4))])
    hashes = MinHash.bulk(shingles, num_perm=128, hashfunc=xxhash.xxh32_intdigest, seed=seed)
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    flagged = []
    for d, m in zip(docs, hashes):
        if lsh.query(m):
            flagged.append(d["id"])
        else:
            lsh.insert(d["id"], m)
    return flagged
if task == "near":
    t = time.perf_counter()
    flagged = near(1)
    out = {"seconds": time.perf_counter() - t, "flagged": flagged}
elif task == "recall":
    out = {seed: near(seed) for seed in map(int, sys.argv[3].split(","))}
elif task == "gopher":
    from datatrove.data import Document
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
    quality, repetition = GopherQualityFilter(), GopherRepetitionFilter()
    t = time.perf_counter()
    kept = []
    for d in docs:
        doc = Document(text=d["text"], id=d["id"])
        ok = repetition.filter(doc)
        if ok is True:
            ok = quality.filter(doc)
        kept.append(ok is True)
    out = {"seconds": time.perf_counter() - t, "kept": kept}
print(json.dumps(out))
"""


PEER_WHOLE = r"""
import json, sys
import xxhash
from datasketch import MinHash, MinHashLSH
corpus, out = sys.argv[1], sys.argv[2]
with open(corpus) as fh:
    docs = [json.loads(line) for line in fh]
shingles = []
for d in docs:
    words = d["text"].lower().split()
    shingles.append([" ".join(words[i:i + 5]).encode() for i in range(max(1, len(words) - 4))])
lsh = MinHashLSH(threshold=0.8, num_perm=128)
with open(out, "w") as fh:
    for d, m in zip(docs, MinHash.bulk(shingles, num_perm=128, hashfunc=xxhash.xxh32_intdigest, seed=1)):
        if not lsh.query(m):
            lsh.insert(d["id"], m)
            fh.write(json.dumps(d) + "\n")
"""


def faker_corpus(path: Path, n: int, seed: int) -> set[str]:
    """N Faker documents in four locales with planted near and exact copies; the ids of the copies."""
    from faker import Faker

    rng = random.Random(seed)
    fakes = [Faker(locale) for locale in ("en_US", "en_GB", "de_DE", "fr_FR")]
    for i, fake in enumerate(fakes):
        fake.seed_instance(seed * 10 + i)
    originals: list[str] = []
    planted: set[str] = set()
    with open(path, "w") as fh:
        for i in range(n):
            kind = rng.random()
            if originals and kind < 0.12:
                words = rng.choice(originals).split()
                if kind < 0.10:  # a near copy: 0.5-2 % of the words replaced
                    edits = max(1, int(len(words) * rng.uniform(0.005, 0.02)))
                    for k in rng.sample(range(len(words)), edits):
                        words[k] = rng.choice(words)
                text = " ".join(words)
                planted.add(f"d{i}")
            else:
                fake = rng.choice(fakes)
                target, words = rng.randint(150, 250), []
                while len(words) < target:
                    words += fake.paragraph(nb_sentences=6).split()
                text = " ".join(words[:target])
                originals.append(text)
            fh.write(json.dumps({"id": f"d{i}", "text": text}, ensure_ascii=False) + "\n")
    return planted


def whole_process(n: int, python: str, runs: int, seed: int) -> None:
    """near_dedup as a whole process beside datasketch's, interleaved runs, medians."""
    with tempfile.TemporaryDirectory() as tmp:
        corpus, out = Path(tmp) / "corpus.jsonl", Path(tmp) / "kept.jsonl"
        planted = faker_corpus(corpus, n, seed)
        print(f"corpus: {n:,} Faker documents, {len(planted):,} planted copies, seed {seed}")
        commands = {
            "datagen": [
                *(sys.executable, "-m", "datagen", "filter", str(corpus), "-o", str(out)),
                *("--filter", "near_dedup"),
            ],
            "datasketch": [python, "-c", PEER_WHOLE, str(corpus), str(out)],
        }
        took: dict[str, list[float]] = {name: [] for name in commands}
        recall: dict[str, float] = {}
        for _ in range(runs):
            for name, command in commands.items():
                out.unlink(missing_ok=True)
                start = time.perf_counter()
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                took[name].append(time.perf_counter() - start)
                kept = {json.loads(line)["id"] for line in out.open()}
                recall[name] = len(planted - kept) / max(1, len(planted))
        for name, times in took.items():
            spread = ", ".join(f"{t:.2f}" for t in times)
            print(f"{name:10} median {statistics.median(times):6.2f} s ({spread}); recall {recall[name]:.4f}")
        ratio = statistics.median(took["datasketch"]) / statistics.median(took["datagen"])
        print(f"RATIO datasketch / datagen whole-process time: {ratio:.2f}  (target >= 5)")


def zipf_vocabulary(rng: random.Random, size: int = 20_000) -> tuple[list[str], list[float]]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = sorted({"".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(size)})
    common = ["the", "of", "and", "to", "a", "in", "that", "is", "with", "be", "have", "for"]
    vocab = common + words
    weights = [1.0 / (rank + 1) for rank in range(len(vocab))]
    return vocab, weights


def make_corpus(
    path: Path, n: int, seed: int = 0, edits: tuple[float, float] = (0.05, 0.15)
) -> dict[str, str]:
    """Write the corpus; return planted copy id -> the id of its original (near copies only)."""
    rng = random.Random(seed)
    vocab, weights = zipf_vocabulary(rng)
    cumulative = list(itertools.accumulate(weights))  # what choices() computes per call from weights
    originals: list[str] = []
    original_ids: list[str] = []
    planted: dict[str, str] = {}
    with open(path, "w") as fh:
        for i in range(n):
            kind = rng.random()
            if originals and kind < 0.10:
                j = rng.randrange(len(originals))
                words = originals[j].split()
                for k in rng.sample(range(len(words)), max(1, int(len(words) * rng.uniform(*edits)))):
                    words[k] = rng.choices(vocab, cum_weights=cumulative)[0]
                text, planted[f"d{i}"] = " ".join(words), original_ids[j]
            elif originals and kind < 0.12:
                text = originals[rng.randrange(len(originals))]
            else:
                sentences = []
                for _ in range(rng.randint(8, 14)):
                    sentence = rng.choices(vocab, cum_weights=cumulative, k=rng.randint(10, 22))
                    sentences.append(" ".join(sentence).capitalize() + ".")
                text = " ".join(sentences)
                originals.append(text)
                original_ids.append(f"d{i}")
            fh.write(json.dumps({"id": f"d{i}", "text": text}) + "\n")
    return planted


def read(path: Path) -> list[dict[str, str]]:
    with open(path) as fh:
        return [json.loads(line) for line in fh]


def peer(python: str, corpus: Path, task: str, *args: str) -> dict[str, object]:
    proc = subprocess.run(
        [python, "-c", PEER, str(corpus), task, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"peer {task} failed: {proc.stderr[-1500:]}")
    return json.loads(proc.stdout)


def near(corpus: Path, planted: dict[str, str], python: str, workers: int, verify: bool = False) -> None:
    import datagen
    from datagen._app.pipeline import apply_stages
    from datagen_plugins.filters.near_dedup import NearDedup, NearDedupConfig

    docs = read(corpus)
    records = [datagen.Record(id=d["id"], output=d["text"]) for d in docs]
    options = {
        "fields": ["output"],
        "ngram": 5,
        "num_perm": 128,
        "threshold": 0.8,
        "workers": workers,
        "verify": verify,
    }
    stage = NearDedup(NearDedupConfig(**options))  # only to print the bands and rows chosen
    start = time.perf_counter()
    kept = apply_stages(records, ["near_dedup"], config={"filter": {"near_dedup": options}})
    ours = time.perf_counter() - start
    kept_ids = {r.id for r in kept}
    flagged = [d["id"] for d in docs if d["id"] not in kept_ids]
    theirs = peer(python, corpus, "near")
    ds_flagged = set(theirs["flagged"])  # type: ignore[arg-type]
    lsh = f"bands {stage.bands} x rows {stage.rows}"
    mode = ", verify = true (the estimated Jaccard must reach the threshold)" if verify else ""
    print(f"\n== near_dedup, {len(docs):,} docs, word 5-grams, 128 permutations, threshold 0.8 ({lsh}{mode})")
    print(f"datagen, {workers} process(es)  {len(docs) / ours:9.0f} docs/s  (the stage, as users run it)")
    print(f"datasketch bulk + LSH    {len(docs) / theirs['seconds']:9.0f} docs/s")  # type: ignore[operator]
    print(f"RATIO datagen / datasketch speed: {theirs['seconds'] / ours:.2f}  (target >= 3)")  # type: ignore[operator]
    for name, found in (("datagen", set(flagged)), ("datasketch", ds_flagged)):
        recall = sum(1 for p in planted if p in found) / max(1, len(planted))
        planted_n = len(planted)
        print(
            f"{name:10} flags {len(found):6} docs; recall of the {planted_n} planted near copies {recall:.3f}"
        )
    both = set(flagged) & ds_flagged
    only_ours, only_theirs = len(set(flagged) - ds_flagged), len(ds_flagged - set(flagged))
    print(f"flagged by both {len(both)}, only datagen {only_ours}, only datasketch {only_theirs}")


def recall(corpus: Path, planted: dict[str, str], python: str, seeds: int) -> None:
    """The recall of the planted near copies over many hash seeds, datagen's and datasketch's.

    One seed's recall moves by about a point with the permutations drawn (the planted pairs share them),
    so a comparison needs the mean over seeds; both tools are given the same seeds 1..N."""
    import statistics

    import datagen
    from datagen._app.pipeline import apply_stages

    docs = read(corpus)
    records = [datagen.Record(id=d["id"], output=d["text"]) for d in docs]
    chosen = list(range(1, seeds + 1))
    results: dict[str, list[tuple[int, float]]] = {}

    def score(flagged: set[str]) -> tuple[int, float]:
        return len(flagged), sum(1 for p in planted if p in flagged) / max(1, len(planted))

    theirs = peer(python, corpus, "recall", ",".join(map(str, chosen)))
    results["datasketch MinHashLSH"] = [score(set(theirs[str(seed)])) for seed in chosen]  # type: ignore[arg-type]
    for label, verify in (("datagen (default)", False), ("datagen verify = true", True)):
        runs = []
        for seed in chosen:
            options = {"fields": ["output"], "ngram": 5, "num_perm": 128, "threshold": 0.8}
            options |= {"seed": seed, "verify": verify}
            kept = {
                r.id
                for r in apply_stages(records, ["near_dedup"], config={"filter": {"near_dedup": options}})
            }
            runs.append(score({d["id"] for d in docs if d["id"] not in kept}))
        results[label] = runs
    print(
        f"\n== near_dedup recall of the {len(planted):,} planted near copies in {len(docs):,} docs,"
        f" hash seeds 1-{seeds}"
    )
    for label, runs in results.items():
        flagged = [f for f, _ in runs]
        recalls = [r for _, r in runs]
        spread = statistics.stdev(recalls) if len(recalls) > 1 else 0.0
        print(
            f"{label:24} flags {statistics.mean(flagged):8.1f} docs (min {min(flagged)}, max {max(flagged)});"
            f"  recall {statistics.mean(recalls):.4f} ± {spread / len(recalls) ** 0.5:.4f} (sd {spread:.4f})"
        )


def degrade(docs: list[dict[str, str]], seed: int = 1) -> list[dict[str, str]]:
    """Half the documents get one defect a Gopher rule is meant to catch (or nearly so)."""
    rng = random.Random(seed)
    out = []
    for d in docs:
        words = d["text"].split()
        sentences = d["text"].split(". ")
        kind = rng.randrange(16)
        if kind == 0:
            text = " ".join(words[: rng.randint(20, 70)])  # around the 50-word minimum
        elif kind == 1:
            text = "\n".join(f"- {s}" for s in sentences)  # bullet lines
        elif kind == 2:
            text = "\n".join(f"{s}..." if rng.random() < 0.5 else s for s in sentences)  # ellipses
        elif kind == 3:
            text = " ".join(w if rng.random() < 0.8 else "#" for w in words)  # symbols
        elif kind == 4:
            stop = {"the", "of", "and", "to", "a", "in", "that", "is", "with", "be", "have", "for"}
            text = " ".join(w for w in words if w.lower() not in stop)  # no stop words
        elif kind == 5:
            text = "\n".join(sentences + [sentences[0]] * rng.randint(1, 6))  # repeated lines
        elif kind == 6:
            text = " ".join(w if rng.random() < 0.7 else str(rng.randint(0, 999)) for w in words)  # numbers
        elif kind == 7:
            text = " ".join(words + words[: rng.randint(10, 60)])  # a repeated passage
        else:
            text = d["text"]
        out.append({"id": d["id"], "text": text})
    return out


def gopher(corpus: Path, n: int, python: str) -> None:
    from datagen_plugins.filters.gopher import Gopher, GopherConfig

    docs = degrade(read(corpus)[:n])
    small = corpus.with_name("gopher.jsonl")
    small.write_text("".join(json.dumps(d) + "\n" for d in docs))
    rule = Gopher(GopherConfig())
    start = time.perf_counter()
    ours = [rule.check(d["text"]) for d in docs]
    took = time.perf_counter() - start
    theirs = peer(python, small, "gopher")
    kept_theirs = theirs["kept"]  # type: ignore[index]
    same = sum((o is None) == k for o, k in zip(ours, kept_theirs, strict=True))  # type: ignore[arg-type]
    print(f"\n== gopher, {n:,} docs")
    print(f"datagen                  {n / took:9.0f} docs/s")
    print(f"datatrove quality+rep.   {n / theirs['seconds']:9.0f} docs/s")  # type: ignore[operator]
    print(f"RATIO datagen / datatrove speed: {theirs['seconds'] / took:.1f}  (target >= 10)")  # type: ignore[operator]
    print(f"same keep/drop decision on {same / n:.4f} of documents (target >= 0.99)")
    differ = Counter(
        ("kept by datatrove" if k else "dropped by datatrove") + f", datagen: {o[0] if o else 'kept'}"
        for o, k in zip(ours, kept_theirs, strict=True)  # type: ignore[arg-type]
        if (o is None) != k
    )
    for what, count in differ.most_common(8):
        print(f"  {count:5}  {what}")


def exact(n: int) -> None:
    import datagen
    from datagen._app.pipeline import apply_stages

    def records():
        for i in range(n):
            yield datagen.Record(
                id=str(i), instruction=f"Task {i % (n // 2)}", output=f"Answer {i % (n // 2)}"
            )

    start = time.perf_counter()
    kept = apply_stages(records(), ["exact_dedup"])
    took = time.perf_counter() - start
    print(f"\n== exact_dedup, {n:,} short records streamed through the stage")
    print(f"{n / took:,.0f} records/s ({len(kept):,} kept)  (target >= 150,000)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--peer-python", required=True)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument(
        "--edits", type=float, nargs=2, default=(0.05, 0.15), metavar=("LOW", "HIGH"),
        help="share of an original's words replaced in a planted near copy (the issue's corpus: 0.05 0.15)",
    )  # fmt: skip
    parser.add_argument("--recall-docs", type=int, default=20_000, help="corpus of the recall comparison")
    parser.add_argument("--recall-seeds", type=int, default=16, help="hash seeds the recall is averaged over")
    parser.add_argument("--gopher-docs", type=int, default=5_000)
    parser.add_argument("--exact", type=int, default=1_000_000)
    parser.add_argument("--whole-process", type=int, default=0, help="documents of the whole-process run")
    parser.add_argument("--runs", type=int, default=5, help="interleaved runs of the whole-process timing")
    parser.add_argument("--seed", type=int, default=1, help="the Faker corpus of the whole-process run")
    args = parser.parse_args()
    if args.whole_process:
        whole_process(args.whole_process, args.peer_python, args.runs, args.seed)
        return
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        planted = make_corpus(corpus, args.docs, edits=tuple(args.edits))
        version = sys.version.split()[0]
        low, high = args.edits
        edited = f"{low:.0%}-{high:.0%} of words edited"
        print(f"corpus: {args.docs:,} docs, {len(planted):,} planted near copies ({edited})")
        print(f"python {version}")
        for workers in (1, 2):
            near(corpus, planted, args.peer_python, workers)
        near(corpus, planted, args.peer_python, 2, verify=True)
        if args.recall_seeds:
            small = Path(tmp) / "recall.jsonl"
            recall(
                small,
                make_corpus(small, args.recall_docs, edits=tuple(args.edits)),
                args.peer_python,
                args.recall_seeds,
            )
        gopher(corpus, args.gopher_docs, args.peer_python)
    exact(args.exact)


if __name__ == "__main__":
    main()
