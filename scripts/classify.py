"""Classify finished runs: python scripts/classify.py <run or multirun dir> ... [--classifier sim_strong]
[--rubric FILE] [--grades C=1,I=0] [--name classify] [--set KEY=VALUE] [--tracker wandb|none].
All logic lives in evalsweep.classify (docs/judge.md)."""

import sys

from evalsweep.classify.cli import main

if __name__ == "__main__":
    sys.exit(main())
