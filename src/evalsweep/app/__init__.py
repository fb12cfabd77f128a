"""The Hydra layer: `python run.py` / `evalsweep run`, config composition, sweep callbacks, launcher glue,
and Hydra's errors as one line. The only package that imports Hydra; nothing below it imports it. (The
project's sweeper is Hydra glue too, but lives in src/hydra_plugins/: Hydra takes plugins from there only.)"""
