"""Stable pseudo-random numbers from a key, so the same id always gets the same payload."""

from __future__ import annotations

import hashlib
import random


def rng_for(*key: object) -> random.Random:
    """A ``random.Random`` seeded from ``key`` with a stable hash (unlike ``hash()``, not salted)."""
    digest = hashlib.sha256("/".join(map(str, key)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))
