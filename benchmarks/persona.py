"""Personas on the embedded model: text-to-persona, then the diversity of a method's records at equal N
with and without ``[generate] personas``.

    python benchmarks/persona.py [--count 40] [--texts 30] [--offset 100] [--threads 2] [--personas FILE]

1. Unless ``--personas`` names a file, the ``persona`` method (mode ``from_text``) makes personas from
   ``--texts`` Self-Instruct seed tasks taken from ``--offset`` on (the part of the seeds no prompt of
   datagen's shows), through Gemma 3 270M base; printed: kept of asked, why the rest were dropped, and
   how many the run's dedup (exact + near) then removes.
2. The ``template`` method, completed by the model, writes ``--count`` messages to an assistant (ten
   topics x four forms), for each ``--seeds`` sampling seed three times: plain (``{{ persona or 'a
   person' }}`` reads "a person"); with ``[generate] personas`` placed in the instruction by that
   variable, as Persona Hub does; and with the persona as the line datagen adds to a request whose
   prompt does not place it (a template without the variable). Printed for each run: distinct-1/2/3
   and self-BLEU (the ``diversity`` metric), the mean pairwise cosine distance and cluster count of the
   embeddings (``embedding_diversity``), and each persona run's ratio to the plain one. Nothing is
   asserted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TOPICS = ["health", "money", "travel", "cooking", "work", "school", "computers", "gardening", "law", "sports"]
FORMS = ["a question", "a request for help", "a how-to question", "a request for advice"]
TEMPLATE = (
    "Write {{ form }} that {{ persona or 'a person' }} might send to an assistant about {{ topic }}. "
    "Write only the message."
)
LINE_TEMPLATE = (
    "Write {{ form }} that a person might send to an assistant about {{ topic }}. Write only the message."
)


def figures(pm: Any, results: Any) -> dict[str, float]:
    """The diversity figures of a run's outputs, through the metric plugins."""
    registry = pm.registry("metric")
    div_cls, emb_cls = registry.get("diversity"), registry.get("embedding_diversity")
    div = div_cls(div_cls.Config(field="output")).compute(results)
    emb = emb_cls(emb_cls.Config(field="output")).compute(results)
    return {
        "distinct_1": div["distinct_1"],
        "distinct_2": div["distinct_2"],
        "distinct_3": div["distinct_3"],
        "self_bleu": div["self_bleu"]["mean"],
        "embedding_distance": emb["mean_pairwise_cosine_distance"],
        "clusters": emb.get("clusters", float("nan")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--texts", type=int, default=30)
    parser.add_argument("--offset", type=int, default=100)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--personas", type=Path, help="a persona file to use instead of making one")
    args = parser.parse_args()

    import datagen
    from datagen._datamodel.seeds import load_seeds_file

    with tempfile.TemporaryDirectory() as tmp:
        base = {"backend": {"name": "local", "local": {"threads": args.threads}}, "cache": {"dir": tmp}}
        pm = datagen.load_plugins()
        gen = datagen.Generator(datagen.load_config(data=base, environ={}), plugins=pm)
        personas_file = args.personas
        if personas_file is None:
            texts = load_seeds_file(datagen.SEED_TASKS)[args.offset : args.offset + args.texts]
            start = time.perf_counter()
            made = gen.run("persona", texts, len(texts))
            took = time.perf_counter() - start
            dropped = made.report.method_rejections
            print(
                f"text-to-persona: {len(made)} of {len(texts)} texts gave a persona in {took:.0f} s; "
                f"dropped {dropped}"
            )
            for record in list(made)[:5]:
                print(f"  {record.output}")
            personas_file = Path(tmp) / "personas.jsonl"
            made.save(personas_file)

        with_personas = {"generate": {"personas": str(personas_file)}}
        arms = (
            ("plain", {}, TEMPLATE),
            ("in the prompt", with_personas, TEMPLATE),
            ("request line", with_personas, LINE_TEMPLATE),
        )
        for seed in args.seeds:
            rows = []
            for label, extra, template in arms:
                config = datagen.load_config(data={**base, **extra, "sampling": {"seed": seed}}, environ={})
                start = time.perf_counter()
                results = datagen.Generator(config, plugins=pm).run(
                    "template",
                    [],
                    args.count,
                    template=template,
                    variables={"topic": TOPICS, "form": FORMS},
                    complete=True,
                    max_tokens=64,
                )
                took = time.perf_counter() - start
                rows.append((label, figures(pm, results)))
                print(f"seed {seed}, {label}: {len(results)} records in {took:.0f} s")
                for record in list(results)[:2]:
                    print(f"  {record.output[:100]!r}")
            print(f"{'seed ' + str(seed):<20}" + "".join(f"{label:>15}" for label, _ in rows))
            for key in rows[0][1]:
                base_value = rows[0][1][key]
                cells = [f"{rows[0][1][key]:>15.4g}"] + [
                    f"{values[key]:>8.4g} ({values[key] / base_value if base_value else float('nan'):.2f}x)"
                    for _, values in rows[1:]
                ]
                print(f"{key:<20}" + "".join(f"{c:>15}" for c in cells))


if __name__ == "__main__":
    main()
