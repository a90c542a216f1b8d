"""MinHash signatures of word n-gram shingle sets, computed in this process or in worker processes.

``python -m datagen_plugins.filters._minhash NUM_PERM NGRAM SEED`` is a worker (``PipeWorkers``): it
answers each batch of texts with their signatures.
"""

from __future__ import annotations

import re
import sys

import numpy as np

from datagen.plugin import PipeWorkers, serve_requests
from datagen_plugins.filters._text import words

SHIFT = np.uint64(32)
POLY = np.uint64(1_000_003)
MIX = np.uint64(0xFF51AFD7ED558CCD)
#: the base of the words' polynomial hash (odd, so invertible modulo 2**64) and its inverse
BASE = np.uint64(0x100000001B3)
BASE_INVERSE = np.uint64(pow(int(BASE), -1, 2**64))
#: the word hash of a text without words (it is one shingle, as in datasketch)
EMPTY = np.uint64(0x9E3779B97F4A7C15)
#: shingles permuted together: a (num_perm, CHUNK) uint64 buffer that stays in the CPU's cache
CHUNK = 8192
_SPACE = 32
_WORD_BYTES = bytes(c if chr(c).isascii() and (chr(c).isalnum() or c == 95) else _SPACE for c in range(256))
#: Latin-1 characters, already case-folded, kept as word characters (``\w``: alphanumeric or ``_``)
_LATIN1_WORD = bytes(c if chr(c).isalnum() or c == 95 else _SPACE for c in range(256))
#: word characters of Latin-1 that NFKC changes (ª to a, ² to 2, ½ to 1, fraction slash, 2): such a text
#: takes the full path; the others NFKC changes (no-break space, diaeresis, macron, acute accent, cedilla)
#: become separators either way
_NFKC_LATIN1_WORD = re.compile("[\xaa\xb2\xb3\xb5\xb9\xba\xbc\xbd\xbe]")


def word_bytes(text: str) -> bytes:
    """The text's words (as ``words()`` finds them) in UTF-8, each separated by spaces and nothing else.

    ASCII text and Latin-1 text (most English, German, French, Spanish ...) take a few C-level passes
    over the whole text; other scripts the regular expression of ``words()``."""
    if text.isascii():
        return text.encode().lower().translate(_WORD_BYTES)
    if not _NFKC_LATIN1_WORD.search(text):
        try:
            latin1 = text.casefold().encode("latin-1")
        except UnicodeEncodeError:  # another script (or µ folded out of Latin-1)
            pass
        else:
            return latin1.translate(_LATIN1_WORD).decode("latin-1").encode()
    return " ".join(words(text)).encode()


class MinHasher:
    """MinHash signatures of word n-gram shingle sets, ``num_perm`` permutations from ``seed``.

    Words are hashed all at once over a batch's bytes: a polynomial hash modulo 2**64 from a running
    sum (``sum(byte[i] * BASE**i)`` between a word's ends, shifted back by ``BASE**-start``), then
    mixed (MurmurHash3's finaliser). A shingle's hash ``x`` is permuted by multiply-shift hashing,
    ``((a * x + b) mod 2**64) >> 32`` with random odd 64-bit ``a`` and random ``b`` (a 2-universal
    family: Dietzfelbinger et al. 1997), which needs no modulo by a prime and so runs several times
    faster in numpy.
    """

    def __init__(self, num_perm: int, ngram: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.a = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self.b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
        self.ngram = ngram
        self.num_perm = num_perm
        self._powers = np.empty(0, dtype=np.uint64)  # BASE**i and BASE**-i, grown by doubling
        self._inverse_powers = np.empty(0, dtype=np.uint64)
        self._buffer = np.empty((num_perm, CHUNK), dtype=np.uint64)

    def _powers_to(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self._powers) < n:
            size = max(n, 2 * len(self._powers), 1 << 16)
            with np.errstate(over="ignore"):  # wrapping modulo 2**64 is the point
                for name, base in (("_powers", BASE), ("_inverse_powers", BASE_INVERSE)):
                    powers = np.empty(size, dtype=np.uint64)
                    powers[0] = 1
                    powers[1:] = base
                    setattr(self, name, np.cumprod(powers, dtype=np.uint64))
        return self._powers[:n], self._inverse_powers[:n]

    def _word_hashes(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The hash of every word of every text, concatenated, and each text's word count (a text
        without words counts one, the ``EMPTY`` hash)."""
        parts = [word_bytes(t) for t in texts]
        data = np.frombuffer(b" " + b" ".join(parts) + b" ", dtype=np.uint8)  # spaces at both ends
        powers, inverse = self._powers_to(len(data))
        is_word = data != _SPACE
        edges = np.flatnonzero(is_word[1:] != is_word[:-1]) + 1
        starts, ends = edges[0::2], edges[1::2]
        with np.errstate(over="ignore"):
            running = np.cumsum(data * powers, dtype=np.uint64)
            hashes = (running[ends - 1] - running[starts - 1]) * inverse[starts]
            hashes ^= hashes >> np.uint64(33)
            hashes *= MIX
            hashes ^= hashes >> np.uint64(33)
        text_starts = np.cumsum([1] + [len(p) + 1 for p in parts[:-1]])  # where each text's bytes begin
        lengths = np.diff(np.searchsorted(starts, text_starts), append=len(starts))
        empty = lengths == 0
        if empty.any():
            hashes = np.insert(hashes, (np.cumsum(lengths) - lengths)[empty], EMPTY)
            lengths[empty] = 1
        return hashes, lengths

    def signatures(self, texts: list[str]) -> np.ndarray:
        """The signatures of many texts at once: a (len(texts), num_perm) uint32 array.

        The n-grams of the whole batch are hashed in one pass over the concatenated word hashes (an
        n-gram never spans two texts); the permutations are applied to ``CHUNK`` shingles at a time,
        in place (a buffer that stays in cache), and each text's minimum taken with one ``reduceat``.
        Repeated n-grams need no removal, since they cannot change a minimum."""
        if not texts:
            return np.empty((0, self.num_perm), dtype=np.uint32)
        ids, lengths = self._word_hashes(texts)
        n = self.ngram
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        spans = np.minimum(lengths, n)  # a text shorter than n is one shingle of all its words
        grams_per_text = lengths - spans + 1
        # the first word of every n-gram, text by text
        first = np.repeat(starts, grams_per_text) + (
            np.arange(int(grams_per_text.sum()))
            - np.repeat(np.cumsum(grams_per_text) - grams_per_text, grams_per_text)
        )
        with np.errstate(over="ignore"):  # wrapping modulo 2**64 is the point
            h = ids[first]
            if int(spans.min()) == n:
                for k in range(1, n):
                    h *= POLY
                    h += ids[first + k]
            else:
                width = np.repeat(spans, grams_per_text)
                for k in range(1, n):
                    more = width > k
                    h[more] = h[more] * POLY + ids[first[more] + k]
            h ^= h >> np.uint64(33)
            h *= MIX
            h ^= h >> np.uint64(29)
            shingles = h >> SHIFT
        gram_ends = np.cumsum(grams_per_text)
        out = np.empty((self.num_perm, len(texts)), dtype=np.uint64)
        buffer = self._buffer
        text = 0
        while text < len(texts):  # whole texts, about CHUNK shingles at a time
            low = int(gram_ends[text - 1]) if text else 0
            last = max(text + 1, int(np.searchsorted(gram_ends, low + CHUNK, side="right")))
            high = int(gram_ends[last - 1])
            if high - low > buffer.shape[1]:  # one text longer than a chunk
                buffer = np.empty((self.num_perm, high - low), dtype=np.uint64)
            permuted = buffer[:, : high - low]
            np.multiply(self.a[:, None], shingles[None, low:high], out=permuted)
            permuted += self.b[:, None]  # mod 2**64; the high 32 bits are the permuted value
            bounds = np.concatenate(([0], gram_ends[text : last - 1] - low))
            out[:, text:last] = np.minimum.reduceat(permuted, bounds, axis=1)
            text = last
        # the minimum's high bits are the minimum of the high bits
        signatures: np.ndarray = (out >> SHIFT).T.astype(np.uint32)
        return signatures

    def signature(self, text: str) -> np.ndarray:
        """The MinHash signature of one text (``num_perm`` uint32 values)."""
        signature: np.ndarray = self.signatures([text])[0]
        return signature


class Workers:
    """``count`` worker processes computing signatures; batches are handed out in turn and each
    worker answers its batches in the order given."""

    def __init__(self, count: int, num_perm: int, ngram: int, seed: int) -> None:
        self._pool = PipeWorkers("near_dedup", __name__, (num_perm, ngram, seed), count)

    async def start(self) -> None:
        """Start the workers (each imports numpy: a fraction of a second)."""
        await self._pool.start()

    async def signatures(self, texts: list[str]) -> np.ndarray:
        """The signatures of a batch, from the next worker in turn."""
        signatures: np.ndarray = await self._pool.call(texts)
        return signatures

    async def close(self) -> None:
        """Stop the workers and wait for them."""
        await self._pool.close()


def serve(num_perm: int, ngram: int, seed: int) -> None:
    """A worker's loop: batches of texts from stdin, their signatures to stdout, until stdin closes."""
    serve_requests(MinHasher(num_perm, ngram, seed).signatures)


if __name__ == "__main__":
    serve(*map(int, sys.argv[1:4]))
