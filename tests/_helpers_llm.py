"""Kept only for tests/test_judge.py, which still imports these names from here: each lives in
conftest.py (the shared test helpers). Delete this file once that import reads `from conftest`."""

from conftest import base_args, rows, run_py, summary  # noqa: F401
