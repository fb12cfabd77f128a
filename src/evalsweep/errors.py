"""Typed errors, raised where the fault is found and turned into one clear line at the entry point."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit code of run.py / evalsweep, in one table (README lists the same)."""

    OK = 0
    JOB_FAILED = 1  # a parallel (joblib/submitit) sweep in which a job failed; also an unexpected error
    BAD_INPUT = 2  # config, data, prompt, a busy or foreign output dir: one line says what and where
    KEY = 3  # a missing or rejected API key
    SAMPLE_ERRORS = 4  # some samples failed for good (recorded; the job finished)
    VALIDATION = 5  # pre-run validation failed
    OUTPUT = 6  # the job's output could not be written (full disk, file-size limit, permissions)
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
    TERMINATED = 143  # SIGTERM (128 + SIGTERM), as SLURM sends before pre-emption


class EvalsweepError(Exception):
    """A user-facing error: the message says what, where and how to fix it."""

    exit_code: int = ExitCode.JOB_FAILED


class ConfigError(EvalsweepError):
    exit_code = ExitCode.BAD_INPUT


class DatasetError(EvalsweepError):
    exit_code = ExitCode.BAD_INPUT


class PromptError(EvalsweepError):
    exit_code = ExitCode.BAD_INPUT


class ScoringError(EvalsweepError):
    exit_code = ExitCode.BAD_INPUT


class AuthError(EvalsweepError):
    """A missing or rejected API key: stops the whole job (and sweep) at once."""

    exit_code = ExitCode.KEY


class CacheError(EvalsweepError):
    exit_code = ExitCode.BAD_INPUT
