"""What is a key: strings shaped like an API key, and names that are environment variables.

`api_key_env` names a variable; a value that is not a variable name (or looks like a key) is
refused by the config schema with a line that does not repeat it (`check_key_env`). The
redaction of what a job writes (evalsweep.results.redact) uses the same shapes.
"""

from __future__ import annotations

import math
import re
from collections import Counter

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A provider key: sk-, then a run with at least one long random-looking part (checked in keyish).
SK_KEY = re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_\-]{16,}")
# key/token/secret/password (as a word or inside a name such as api_key), then : or =, then a token.
AFTER_KEY_WORD = re.compile(
    r"(?i)(?<![A-Za-z0-9])([A-Za-z0-9_\-]*(?:key|token|secret|passw(?:or)?d)[A-Za-z0-9_\-]*)"
    r"([\"']?\s*[:=]\s*[\"']?)([A-Za-z0-9_\-./+=]{20,})")
_PART = re.compile(r"[A-Za-z0-9]{16,}")
PEM_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S)


def _random_looking(part: str) -> bool:
    """Letters and digits mixed, with enough entropy: a key, not a word, a number or a name."""
    if not (any(c.isalpha() for c in part) and any(c.isdigit() for c in part)):
        return False
    counts = Counter(part)
    entropy = -sum(n / len(part) * math.log2(n / len(part)) for n in counts.values())
    return entropy >= 3.0


def keyish(token: str) -> bool:
    """Some part of 16+ letters and digits that looks random (a word-like name such as "sk-" + "learn-benchmarks-2024" does not)."""
    return any(_random_looking(m.group(0)) for m in _PART.finditer(token))


def looks_like_key(text: str) -> bool:
    """True for text that holds something shaped like an API key: sk-..., a random-looking token
    after key/token/secret/password, a PEM private key. (A bare hash or id is not one.)"""
    if PEM_KEY.search(text) or any(keyish(m.group(0)) for m in SK_KEY.finditer(text)):
        return True
    return any(keyish(m.group(3)) for m in AFTER_KEY_WORD.finditer(text))


def is_env_name(value: str) -> bool:
    """A variable name such as OPENAI_API_KEY, and not a key that happens to be one (a long
    random-looking run of letters and digits)."""
    return bool(ENV_NAME.match(value)) and not looks_like_key(value) and not keyish(value)


def check_key_env(value: str | None) -> str | None:
    """For the config schema: the name, or ValueError whose message never holds the value."""
    if value is not None and not is_env_name(value):
        raise ValueError("must be the name of the environment variable that holds the key (e.g. "
                         "OPENAI_API_KEY), never the key itself; the value given is not shown. Put the "
                         "key in the environment or .env and name its variable here")
    return value
