"""The embedded model's peak memory as distinct prompts pile up, with llama.cpp's RAM prompt cache at a
given size: ``python benchmarks/local_memory.py MIB PROMPTS`` (each prompt ~700 words, one token
generated). Nothing is asserted; the peak RSS is printed.
"""

from __future__ import annotations

import random
import resource
import sys
import time

from datagen_plugins.backends.local import LocalBackend, LocalConfig

WORDS = "the a of to and in is it you that he was for on are with as I his they be at one have this".split()


def main() -> None:
    mib, prompts = int(sys.argv[1]), int(sys.argv[2])
    backend = LocalBackend(LocalConfig(threads=2, prompt_cache_mib=mib))
    rng = random.Random(0)
    start = time.time()
    for i in range(prompts):
        prompt = f"Task {i}: " + " ".join(rng.choice(WORDS) for _ in range(700))
        backend._call({"prompt": prompt, "max_tokens": 1, "temperature": 0.0, "stop": []})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"prompt_cache_mib={mib}: peak RSS {peak:.0f} MB, {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
