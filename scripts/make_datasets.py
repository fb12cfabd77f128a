"""Write the shipped datasets deterministically: arithmetic with a free answer (JSONL)
and arithmetic as multiple choice (CSV). Answers are computable, so the simulator can
answer them with a chosen accuracy. Re-running this script reproduces the files byte for byte.

    python scripts/make_datasets.py [--out data] [--n 200]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from pathlib import Path

OPS = ["+", "-", "*"]
LETTERS = "ABCD"


def _question(rng: random.Random) -> tuple[str, int, str]:
    op = rng.choice(OPS)
    if op == "*":
        a, b = rng.randint(2, 30), rng.randint(2, 30)
    else:
        a, b = rng.randint(10, 999), rng.randint(10, 999)
    value = a + b if op == "+" else a - b if op == "-" else a * b
    difficulty = "hard" if op == "*" or max(a, b) > 500 else "easy"
    return f"What is {a} {op} {b}?", value, difficulty


def make_free(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        q, value, difficulty = _question(rng)
        rows.append({"id": f"arith-{i:04d}", "question": q, "answer": str(value), "difficulty": difficulty})
    return rows


def make_mc(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        q, value, difficulty = _question(rng)
        wrong: set[int] = set()
        while len(wrong) < 3:
            off = rng.choice([-1, 1]) * rng.randint(1, 20)
            wrong.add(value + off)
        options = [value, *sorted(wrong)]
        rng.shuffle(options)
        row = {"qid": f"mc-{i:04d}", "prompt": q, "label": LETTERS[options.index(value)], "difficulty": difficulty}
        row.update({f"option_{k}": str(v) for k, v in zip("abcd", options)})
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data")
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "arithmetic.jsonl").open("w", encoding="utf-8", newline="\n") as f:
        for row in make_free(args.n, seed=1234):
            f.write(json.dumps(row, sort_keys=True) + "\n")
    mc = make_mc(args.n, seed=5678)
    with (args.out / "arithmetic_mc.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(mc[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(mc)
    print(f"wrote {args.n} rows each to {args.out}/arithmetic.jsonl and arithmetic_mc.csv")


if __name__ == "__main__":
    main()
