"""An entry point loaded with the garbage collector paused: what `python run.py` and `evalsweep
COMMAND` do first."""

from __future__ import annotations

import gc
from collections.abc import Callable
from importlib import import_module
from typing import Any


def load_entry(module: str, name: str) -> Callable[..., Any]:
    """module.name, imported with collections paused, then frozen. Importing the stack (Hydra,
    pydantic, the SDKs) makes objects that all live on, so collecting during it is wasted work
    (~0.1 s of each start), and once frozen they are left out of every later collection."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return getattr(import_module(module), name)
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
