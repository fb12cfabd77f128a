"""Keys never land in a job's files: what is a key, and how text is cleaned of one.

Two kinds of secret are replaced by `<redacted>` in everything the job record writes (repro/,
summary.json): the values of the configured key variables as found in the environment
(OPENAI_API_KEY, ANTHROPIC_API_KEY, the model's and the judge's `api_key_env`, and any variable
whose name ends in _API_KEY, _TOKEN, _SECRET or _PASSWORD), and strings shaped like a key whatever
their source: `sk-...` / `sk-ant-...` / `sk-proj-...`, a long random-looking token right after
a word such as key, token, secret or password (`api_key: 9f3Kx...`), and PEM private keys.

What is shaped like a key, and which names are variables, is evalsweep.config.key_shapes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from evalsweep.config.key_shapes import AFTER_KEY_WORD, ENV_NAME, PEM_KEY, SK_KEY, is_env_name, keyish

REDACTED = "<redacted>"
# The variables the providers read by default, besides the ones a config names.
KEY_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")
_SECRET_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD")
# Shorter values are left alone: replacing "abc" everywhere would wreck the text and hide nothing.
MIN_SECRET_LEN = 8


def _key_env_names(cfg: Mapping[str, Any] | None) -> list[str]:
    """api_key_env of the model and of the judge (scorer.judge, with its overrides), as named by a
    resolved config. Best effort: a judge option that does not load names nothing."""
    names: list[str] = []
    if not isinstance(cfg, Mapping):
        return names
    model = cfg.get("model")
    if isinstance(model, Mapping) and isinstance(model.get("api_key_env"), str):
        names.append(model["api_key_env"])
    scorer = cfg.get("scorer")
    if isinstance(scorer, Mapping):
        overrides = scorer.get("judge_overrides")
        if isinstance(overrides, Mapping) and isinstance(overrides.get("api_key_env"), str):
            names.append(overrides["api_key_env"])
        judge = scorer.get("judge")
        if isinstance(judge, str) and judge:
            try:
                from evalsweep.judge.options import load_model_option

                env = load_model_option(judge, dict(overrides) if isinstance(overrides, Mapping) else None).api_key_env
            except Exception:  # noqa: BLE001 - the job itself reports a bad judge option
                env = None
            if env:
                names.append(env)
    return [n for n in names if ENV_NAME.match(n)]


def secret_values(cfg: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of the key variables (the defaults, the config's, and every *_API_KEY, *_TOKEN,
    *_SECRET, *_PASSWORD), longest first so a key inside a longer one is not cut in half."""
    env = os.environ if environ is None else environ
    names = set(KEY_VARS) | set(_key_env_names(cfg))
    names |= {k for k in env if k.upper().endswith(_SECRET_SUFFIXES)}
    values = {env[n].strip() for n in names if n in env}
    return sorted((v for v in values if len(v) >= MIN_SECRET_LEN), key=len, reverse=True)


def redact_text(text: str, secrets: Iterable[str] = ()) -> tuple[str, bool]:
    """`text` with every secret value and key-shaped string replaced; and whether anything was."""
    out = text
    for s in secrets:
        if s and s in out:
            out = out.replace(s, REDACTED)

    def _sk(m: re.Match[str]) -> str:
        return REDACTED if keyish(m.group(0)) else m.group(0)

    def _after(m: re.Match[str]) -> str:
        return m.group(1) + m.group(2) + REDACTED if keyish(m.group(3)) else m.group(0)

    out = AFTER_KEY_WORD.sub(_after, SK_KEY.sub(_sk, PEM_KEY.sub(REDACTED, out)))
    return out, out != text


def redact(text: str, cfg: Mapping[str, Any] | None = None) -> str:
    return redact_text(text, secret_values(cfg))[0]


def safe_override(override: str) -> str:
    """An override as it may be shown (e.g. in an error line): an api_key_env value that is no
    variable name is hidden, and key-shaped strings are redacted."""
    key, sep, value = override.partition("=")
    if sep and key.rstrip().endswith("api_key_env") and not all(
            is_env_name(v.strip(" '\"[]")) or v.strip(" '\"[]") in ("", "null") for v in value.split(",")):
        return f"{key}={REDACTED}"
    return redact_text(override)[0]
