"""A generation parameter is one field of GenerateConfig: added there alone (in a copy of the
package), it reaches the request, the cache key, the resume check and the report's variant label."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import ROOT

from evalsweep.cache.keys import ALWAYS_IN_KEY, key_payload
from evalsweep.config.model import ModelConfig
from evalsweep.config.generate import GENERATE_FIELDS, GenerateConfig
from evalsweep.llm.types import Message, build_request

NEW_FIELD = "    presence_penalty: float | None = Field(None, ge=-2, le=2)\n"

PROBE = textwrap.dedent("""
    import json, sys
    from evalsweep.app.compose import compose
    from evalsweep.cache.keys import cache_key
    from evalsweep.llm.types import Message, build_request
    from evalsweep.report.labels import differing_keys
    from evalsweep.report.readjob import flatten
    from evalsweep.job.resume import fingerprint

    def job(*extra):
        container, exp = compose(["tracker=none", *extra])
        return container, exp

    plain_cfg, plain = job()
    set_cfg, with_it = job("+model.presence_penalty=0.5")
    ask = [Message(role="user", content="hi")]
    r0, r1 = (build_request(e.model, ask, seed=1) for e in (plain, with_it))
    old, new = fingerprint(plain_cfg), fingerprint(set_cfg)
    changed = [k for k in new if old.get(k) != new[k]]

    class Job:  # what differing_keys reads of a job
        def __init__(self, cfg): self.facets = flatten(cfg)
    print(json.dumps({
        "request": r1.presence_penalty,
        "keys_differ": cache_key(r0, simulated=True) != cache_key(r1, simulated=True),
        "resume_changed": changed,
        "label_keys": differing_keys([Job(plain_cfg), Job(set_cfg)]),
    }))
""")


def test_the_generation_fields_are_declared_once() -> None:
    assert GENERATE_FIELDS == ("temperature", "max_tokens", "top_p", "stop", "reasoning_effort", "thinking",
                               "thinking_budget", "extra_body", "logprobs", "top_logprobs")
    assert set(GENERATE_FIELDS) <= set(ModelConfig.model_fields)
    m = ModelConfig(provider="openai", name="m", simulated=True, temperature=0.3, top_p=0.9, stop=["\n"])
    request = build_request(m, [Message(role="user", content="q")], seed=7, repeat=2)
    assert request.generation() == m.generation() == GenerateConfig(temperature=0.3, top_p=0.9, stop=["\n"])
    payload = key_payload(request, simulated=True)
    # Every field is in the key; one added after the key's first schema only when set (ALWAYS_IN_KEY).
    assert all(payload.get(name) == getattr(m, name) for name in GENERATE_FIELDS)
    assert set(ALWAYS_IN_KEY) <= set(payload)


def test_a_new_field_reaches_request_key_resume_and_label(tmp_path: Path) -> None:
    copy = tmp_path / "project"
    shutil.copytree(ROOT / "src", copy / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "conf", copy / "conf")
    (copy / "data").symlink_to(ROOT / "data")
    generate = copy / "src" / "evalsweep" / "config" / "generate.py"
    text = generate.read_text()
    anchor = "    stop: list[str] | None = None\n"
    assert anchor in text
    generate.write_text(text.replace(anchor, anchor + NEW_FIELD))  # the one edit
    env = {**os.environ, "PYTHONPATH": str(copy / "src"), "OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": ""}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=copy, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    import json

    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["request"] == 0.5
    assert seen["keys_differ"] is True
    assert seen["resume_changed"] == ["model.presence_penalty"]
    assert "model.presence_penalty" in seen["label_keys"]
