"""Experiment trackers: the protocol and null tracker, the wandb run, and a reader for offline runs."""
