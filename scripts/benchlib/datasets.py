"""Benchmark datasets: the arithmetic format ({"id", "question", "answer"}), written on the fly."""

from __future__ import annotations

import json
import random
from pathlib import Path


def write_arithmetic(path: Path, n: int, seed: int = 0) -> Path:
    """n distinct questions, so every sample is its own request and cache entry (up to ~8e11)."""
    rng = random.Random(seed)
    seen: set[tuple[int, int]] = set()
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            a, b = rng.randint(10, 999_999), rng.randint(10, 999_999)
            while (a, b) in seen:
                a, b = rng.randint(10, 999_999), rng.randint(10, 999_999)
            seen.add((a, b))
            f.write(json.dumps({"id": f"bench-{i:07d}", "question": f"What is {a} + {b}?", "answer": str(a + b)})
                    + "\n")
    return path
