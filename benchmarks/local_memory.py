"""The embedded model's peak memory as distinct prompts pile up, with llama.cpp's RAM prompt cache at a
given size: ``python benchmarks/local_memory.py MIB PROMPTS`` (each prompt ~700 words, one token
generated). Nothing is asserted; the peak RSS is printed.
"""

import random
import resource
import sys
import time

from datagen_plugins.backends.local import LocalBackend, LocalConfig

mib = int(sys.argv[1])
b = LocalBackend(LocalConfig(threads=2, prompt_cache_mib=mib))
rng = random.Random(0)
words = (
    "the a of to and in is it you that he was for on are with as I his they be at one have this from".split()
)
t = time.time()
for i in range(int(sys.argv[2])):
    prompt = f"Task {i}: " + " ".join(rng.choice(words) for _ in range(700))
    b._call({"prompt": prompt, "max_tokens": 1, "temperature": 0.0, "stop": []})
print(
    f"prompt_cache_mib={mib}: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB, {time.time() - t:.0f} s"
)
