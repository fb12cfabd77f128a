"""Hydra's own errors (an unknown config option, a typo'd key, a bad override, an output dir that
is a file) as one line and exit code 2, the same as the project's own bad-input errors.

Hydra prints these as several lines (or a traceback) and exits 1. run.py sets HYDRA_FULL_ERROR so
Hydra hands the exception back instead of printing it, and calls `one_line` on it. A user who set
HYDRA_FULL_ERROR themselves gets Hydra's full traceback, as Hydra documents."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable

from hydra.errors import (CompactHydraException, ConfigCompositionException, MissingConfigException,
                          OverrideParseException)

from evalsweep.errors import ExitCode

EXIT_BAD_INPUT = ExitCode.BAD_INPUT
EXIT_JOB_FAILED = ExitCode.JOB_FAILED  # a parallel sweep's failed job (evalsweep.app.launch.JobFailed)


def _missing(exc: MissingConfigException) -> str:
    first = str(exc).splitlines()[0]
    options = ", ".join(exc.options or [])
    group, _, name = (exc.missing_cfg_file or "").rpartition("/")
    if options and group:
        return f"there is no config option {group}={name} (conf/{group}/{name}.yaml); {group} can be one of: {options}"
    return first


def one_line(exc: BaseException) -> tuple[str, int] | None:
    """The line and exit code for a Hydra-level error, or None when it is not one (a bug: re-raise)."""
    if isinstance(exc, MissingConfigException):
        return _missing(exc), EXIT_BAD_INPUT
    if isinstance(exc, (ConfigCompositionException, OverrideParseException)):
        text = str(exc)
        override = re.match(r"Could not override '([^']+)'", text)
        if override and "+" + override.group(1) in text:
            key = override.group(1)
            return (f"cannot set {key}: there is no such key (check the spelling; to add a new key on purpose "
                    f"write +{key}=...)"), EXIT_BAD_INPUT
        if "requires --multirun" in text:
            return f"{text.splitlines()[0]}: add -m to run a sweep, or give one value", EXIT_BAD_INPUT
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("See https")]
        return "; ".join(lines[:2]) + " (override syntax: key=value, -m for sweeps)", EXIT_BAD_INPUT
    if isinstance(exc, CompactHydraException):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__, EXIT_JOB_FAILED
    if isinstance(exc, OSError) and exc.filename is not None and isinstance(exc, (FileExistsError, NotADirectoryError,
                                                                                  PermissionError)):
        return (f"cannot use {exc.filename} as the output dir: {exc.strerror}; choose another with "
                f"hydra.run.dir=... (or hydra.sweep.dir=...)"), EXIT_BAD_INPUT
    return None


def run_hydra_app(main: Callable[[], None]) -> None:
    """Call a @hydra.main function; Hydra's usage errors end as one line and exit 2."""
    if "HYDRA_FULL_ERROR" in os.environ:
        main()
        return
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        main()
    except Exception as exc:  # only Hydra's own usage errors are turned into a line; anything else re-raises
        said = one_line(exc)
        if said is None:
            raise
        line, code = said
        if not line.startswith("evalsweep: "):
            line = f"evalsweep: error: {line}"
        print(line, file=sys.stderr, flush=True)
        raise SystemExit(code) from None
    finally:
        os.environ.pop("HYDRA_FULL_ERROR", None)
