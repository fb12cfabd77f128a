"""evalsweep's Hydra sweeper: the basic sweeper, each job's config composed once (evalsweep_sweeper.py)."""
