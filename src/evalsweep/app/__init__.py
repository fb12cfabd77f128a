"""The Hydra layer: `python run.py` / `evalsweep run`, config composition, sweep callbacks, launcher glue,
and Hydra's errors as one line. The only package that imports Hydra; nothing below it imports it."""
