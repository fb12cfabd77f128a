"""Typed errors, raised where the fault is found and turned into one clear line at the entry point."""

from __future__ import annotations


class EvalsweepError(Exception):
    """A user-facing error: the message says what, where and how to fix it."""

    exit_code = 1


class ConfigError(EvalsweepError):
    exit_code = 2


class DatasetError(EvalsweepError):
    exit_code = 2


class PromptError(EvalsweepError):
    exit_code = 2


class ScoringError(EvalsweepError):
    exit_code = 2


class AuthError(EvalsweepError):
    """A missing or rejected API key: stops the whole job (and sweep) at once."""

    exit_code = 3


class CacheError(EvalsweepError):
    exit_code = 2
