"""The benchmark suite behind `make bench` (scripts/bench.py; docs/benchmarks.md). It lives beside
its script, not in the evalsweep package: a user of the package never needs it.

Every figure is a ratio against a baseline measured in the same run, because the machine it runs
on is shared and noisy: an absolute number from one run says little about the next one."""
