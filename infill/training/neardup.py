"""Near-duplicate detection for the corpus: MinHash signatures and an LSH index over them."""

from __future__ import annotations

import re
import zlib
from collections import defaultdict

import numpy as np

_WORD = re.compile(r"\w+")


class MinHasher:
    """MinHash signatures over 5-gram word shingles, vectorised with NumPy.

    Tokens are hashed with CRC-32 (through ``map``, so the loop runs in C) rather than
    ``hash()``, whose per-process salt would make signatures differ between runs.
    """

    def __init__(self, perms: int, seed: int = 0x1F1F):
        rng = np.random.default_rng(seed)
        self.xors = rng.integers(1, 2**63, size=perms, dtype=np.uint64)
        self.mults = rng.integers(1, 2**63, size=perms, dtype=np.uint64) | np.uint64(1)

    def signature(self, text: str) -> np.ndarray:
        tokens = _WORD.findall(text)
        tokens += [""] * max(0, 5 - len(tokens))
        hashes = np.fromiter(map(zlib.crc32, map(str.encode, tokens)), dtype=np.uint64, count=len(tokens))
        with np.errstate(over="ignore"):
            shingles = hashes[:-4].copy()
            for k in range(1, 5):
                shingles = shingles * np.uint64(0x9E3779B97F4A7C15) + hashes[k : len(hashes) - 4 + k]
            shingles = np.unique(shingles)
            mixed = (shingles[:, None] ^ self.xors[None, :]) * self.mults[None, :]  # (S, P)
        return mixed.min(axis=0)  # (P,)


class NearDupIndex:
    """LSH over MinHash signatures; ``find`` returns the key of an indexed near-duplicate."""

    def __init__(self, perms: int, bands: int, threshold: float):
        self.rows, self.bands, self.threshold = perms // bands, bands, threshold
        self.buckets: dict[tuple[int, bytes], list[int]] = defaultdict(list)
        self.signatures: list[np.ndarray] = []
        self.keys: list[str] = []

    def _band_keys(self, sig: np.ndarray) -> list[tuple[int, bytes]]:
        return [(b, sig[b * self.rows : (b + 1) * self.rows].tobytes()) for b in range(self.bands)]

    def find(self, sig: np.ndarray) -> str | None:
        seen: set[int] = set()
        for band_key in self._band_keys(sig):
            for i in self.buckets.get(band_key, ()):
                if i not in seen:
                    seen.add(i)
                    if np.count_nonzero(self.signatures[i] == sig) >= self.threshold * len(sig):
                        return self.keys[i]
        return None

    def add(self, key: str, sig: np.ndarray) -> None:
        self.keys.append(key)
        self.signatures.append(sig)
        for band_key in self._band_keys(sig):
            self.buckets[band_key].append(len(self.keys) - 1)
