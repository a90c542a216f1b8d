"""Augmentation of real data: paraphrases and style variations of labelled review sentences.

Copies and near-copies of the source are rejected and retried, so every kept variation differs.

    python examples/data_augmentation.py [COUNT] [OUT_DIR]
"""

import sys
from pathlib import Path

import datagen

count = int(sys.argv[1]) if len(sys.argv) > 1 else 2
out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("examples_output")
out_dir.mkdir(parents=True, exist_ok=True)

reviews = [  # from the UCI "Sentiment Labelled Sentences" data (Kotzias et al., KDD 2015)
    {
        "instruction": "Classify the sentiment of this review.",
        "input": "Great for the jawbone.",
        "output": "positive",
    },
    {
        "instruction": "Classify the sentiment of this review.",
        "input": "The food was bland and cold.",
        "output": "negative",
    },
    {
        "instruction": "Classify the sentiment of this review.",
        "input": "Loved the staff, will come back.",
        "output": "positive",
    },
][:count]

gen = datagen.Generator()
paraphrased = gen.augment_by_paraphrasing(reviews, variations_per_example=1, fields_to_paraphrase=["input"])
styled = gen.augment_with_style_variation(reviews, styles=["formal"], examples_per_style=1)
for name, results in (("paraphrased", paraphrased), ("styled", styled)):
    if len(results) == 0:  # say so, and fail: an empty file is no result
        sys.exit(f"no {name} record from this model: {results.report.summary()}")
    path = results.save(out_dir / f"{name}.jsonl")
    for record in results:
        print(f"- {name}: {record.input or record.output} (attempts: {record.metadata['attempts']})")
    print(f"{len(results)} {name} records in {path}")
