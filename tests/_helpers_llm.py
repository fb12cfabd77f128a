"""Kept only while test modules still import from here: every name lives in conftest.py (the
shared test helpers), which is what new code imports."""

from conftest import (ROOT, base_args, cause_counts, rows, run_py, sim_server, summary,  # noqa: F401
                      write_dataset)
