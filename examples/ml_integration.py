"""From synthetic data to training runs, offline on the CPU.

python examples/ml_integration.py [COUNT] [OUT_DIR]

1. COUNT synthetic product, film and restaurant reviews, half positive and half negative, from the
   embedded model (the template method; the label is the template's ``sentiment`` variable).
2. A PyTorch bag-of-words classifier trained on those reviews alone and scored on the 3,000 real
   labelled review sentences in ``data/sentiment_labelled_sentences`` (Kotzias et al., KDD 2015), beside
   the majority baseline (0.5).
3. The reviews exported for TRL (``trl-sft``, prompt and completion) and fed unchanged to TRL's
   ``SFTTrainer`` for a few steps on a tiny GPT-2 built from a config, with a tokenizer built here from
   the exported words (no download): its loss goes down.

Needs ``torch`` and ``trl`` (``pip install torch trl``; on a CPU machine take torch's CPU wheel).
"""

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sentiment_task import generator_config, real_sentences

import datagen

count = int(sys.argv[1]) if len(sys.argv) > 1 else 24
out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("examples_output")
out_dir.mkdir(parents=True, exist_ok=True)
try:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
    from trl import SFTConfig, SFTTrainer
except ImportError as exc:
    sys.exit(f"this example needs torch and trl ({exc.name} is missing): pip install torch trl")

# 1. synthetic reviews on the embedded model
results = datagen.Generator(generator_config()).run("template", [], max(2, count))
reviews = [r for r in results if (r.output or "").strip()]
labels = [1 if r.metadata["variables"]["sentiment"] == "positive" else 0 for r in reviews]
if len(set(labels)) < 2:  # say so, and fail: one class teaches nothing
    sys.exit(f"the model wrote reviews of one sentiment only: {results.report.summary()}")
results.save(out_dir / "reviews.jsonl")
print(f"{len(reviews)} synthetic reviews ({sum(labels)} positive) in {out_dir / 'reviews.jsonl'}")

# 2. a classifier trained on synthetic reviews only, scored on real sentences
WORD = re.compile(r"[a-z']+")
torch.manual_seed(0)
vocabulary = {
    w: i for i, w in enumerate(sorted({w for r in reviews for w in WORD.findall(r.output.lower())}))
}


def features(texts):
    rows = torch.zeros((len(texts), len(vocabulary)))
    for i, text in enumerate(texts):
        for word in WORD.findall(text.lower()):
            if word in vocabulary:
                rows[i, vocabulary[word]] = 1.0
    return rows


classifier = torch.nn.Linear(len(vocabulary), 2)
optimizer = torch.optim.Adam(classifier.parameters(), lr=0.05, weight_decay=1e-3)
x, y = features([r.output for r in reviews]), torch.tensor(labels)
for _ in range(200):
    optimizer.zero_grad()
    torch.nn.functional.cross_entropy(classifier(x), y).backward()
    optimizer.step()
real_texts, real_labels = real_sentences()
with torch.no_grad():
    predicted = classifier(features(real_texts)).argmax(dim=1)
accuracy = float((predicted == torch.tensor(real_labels)).float().mean())
print(
    f"classifier trained on {len(reviews)} synthetic reviews: accuracy {accuracy:.3f} on 3,000 real sentences"
)
print("majority baseline: accuracy 0.500")

# 3. the TRL export fed unchanged to TRL's SFTTrainer, on a tiny model built here
sft = out_dir / "sft.jsonl"
datagen.Results(reviews).export(
    "trl-sft", sft, config={"exporter": {"trl_sft": {"style": "prompt_completion"}}}
)
words = sorted({w for line in sft.read_text().splitlines() for w in re.findall(r"\w+|[^\w\s]", line)})
specials = ["[UNK]", "[PAD]", "<|im_start|>", "<|im_end|>"]
inner = Tokenizer(models.WordLevel({w: i for i, w in enumerate(specials + words)}, unk_token="[UNK]"))
inner.pre_tokenizer = pre_tokenizers.Split(r"<\|im_start\|>|<\|im_end\|>|\w+|[^\w\s]", behavior="isolated")
tokenizer = PreTrainedTokenizerFast(
    tokenizer_object=inner, unk_token="[UNK]", pad_token="[PAD]", eos_token="<|im_end|>"
)
tokenizer.chat_template = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
model = GPT2LMHeadModel(
    GPT2Config(vocab_size=len(tokenizer), n_positions=256, n_embd=64, n_layer=2, n_head=2, pad_token_id=1)
)
from datasets import load_dataset  # noqa: E402 (after the model: datasets imports slowly)

trainer = SFTTrainer(
    model=model,
    args=SFTConfig(
        output_dir=str(out_dir / "sft_run"), max_steps=30, per_device_train_batch_size=4, learning_rate=5e-3,
        logging_steps=1, report_to=[], save_strategy="no", use_cpu=True, seed=0, max_length=256,
    ),
    train_dataset=load_dataset("json", data_files=str(sft), split="train"),
    processing_class=tokenizer,
)  # fmt: skip
trainer.train()
losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
(out_dir / "sft_losses.json").write_text(json.dumps(losses))
print(f"SFTTrainer on {sft.name} ({len(reviews)} rows), {len(losses)} steps: loss {first:.2f} -> {last:.2f}")
if not last < first:  # say so, and fail: a run that learns nothing is no result
    sys.exit("the loss did not go down")
