"""Inputs that used to end in a traceback or a wrong diagnosis (issue 22): each is one line on
stderr with the documented exit code (2: bad input), and nothing is sent."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import ROOT, compose_exp, run_cli
from evalsweep.config.model import ModelConfig
from evalsweep.errors import ConfigError
from evalsweep.job.validation import validate
from evalsweep.job.validation_blocking import check_output_path
from evalsweep.job.validation_context import JobContext, Machine

GB = 1024**3
ROW = {"id": "a", "question": "What is 1 + 1?", "answer": "2", "difficulty": "easy"}


def _latin1_jsonl(tmp_path: Path) -> list[str]:
    p = tmp_path / "latin1.jsonl"
    second = json.dumps({**ROW, "id": "b", "question": "caf\u00e9?"}, ensure_ascii=False).encode("latin-1")
    p.write_bytes(json.dumps(ROW).encode() + b"\n" + second + b"\n")
    return [f"dataset.path={p}"]


# name -> (overrides, exit code, what the one line says)
CASES = {
    "not_utf8": (_latin1_jsonl, 2, r"latin1\.jsonl:2: not UTF-8 \(byte 0xe9 at column \d+\); save the file as UTF-8"),
    "sweep_without_m": (lambda t: ["seed=range(40,45)"], 2, r"seed=range\(40,45\).*add -m"),
    "json_braces": (lambda t: ["prompt.user='{input} Reply as {\"answer\": 1}'"], 2,
                    r"unknown placeholder \{\"answer\"\} in prompt\.user.*write \{\{ and \}\}"),
    "empty_braces": (lambda t: ["prompt.user='{input} {}'"], 2,
                     r"placeholder without a name \(\{\} or \{0\}\) in prompt\.user.*\{\{ and \}\}"),
    "lone_close": (lambda t: ["prompt.user='{input} }'"], 2, r"a single '\}' in prompt\.user.*\{\{ and \}\}"),
    "lone_open": (lambda t: ["prompt.system='Be {brief'"], 2, r"a single '\{' in prompt\.system"),
    "base_url": (lambda t: ["model.base_url=not-a-url"], 2,
                 r"model\.base_url='not-a-url'.*http:// or https:// URL with a host"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_with_exit_2(case: str, tmp_path: Path, cache_env: dict[str, str]) -> None:
    make, code, pattern = CASES[case]
    out = tmp_path / "run"
    proc = run_cli(["tracker=none", "dataset.max_samples=3", f"hydra.run.dir={out}", *make(tmp_path)], env=cache_env)
    assert proc.returncode == code, (proc.returncode, proc.stderr[-1500:])
    assert "Traceback" not in proc.stderr, proc.stderr[-1500:]
    [line] = [x for x in proc.stderr.splitlines() if x.startswith("evalsweep: error:")]
    assert re.search(pattern, line), line
    assert len(line) < 400
    assert not (out / "results.jsonl").exists()
    assert not Path(cache_env["EVALSWEEP_CACHE_PATH"]).exists()


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_a_file_with_a_byte_order_mark_loads(suffix: str, tmp_path: Path, cache_env: dict[str, str]) -> None:
    """Excel's "CSV UTF-8" starts with a BOM; it used to read as a missing 'id' field."""
    p = tmp_path / f"excel.{suffix}"
    if suffix == "csv":
        text = "id,question,answer,difficulty\na,What is 1 + 1?,2,easy\nb,What is 2 + 2?,4,easy\n"
    else:
        text = "".join(json.dumps({**ROW, "id": i}) + "\n" for i in "ab")
    p.write_bytes(b"\xef\xbb\xbf" + text.encode())
    proc = run_cli(["tracker=none", "validate_only=true", f"dataset.path={p}", f"hydra.run.dir={tmp_path / 'run'}"],
                   env=cache_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 of 2 samples" in proc.stdout


def test_base_url_needs_scheme_and_host() -> None:
    base = {"provider": "openai", "name": "m", "api_key_env": "K"}
    for bad in ("not-a-url", "localhost:8000/v1", "ftp://host/v1", "http://", "http:///v1"):
        with pytest.raises(ValueError, match="http:// or https:// URL with a host"):
            ModelConfig(**base, base_url=bad)
    for good in ("http://localhost:8000/v1", "https://api.example.com", "http://127.0.0.1:9/v1", None, ""):
        assert ModelConfig(**base, base_url=good).base_url == good  # kept as given: it is in the cache key
    assert ConfigError.exit_code == 2


def test_unwritable_job_dir_says_permissions_not_skip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALSWEEP_CACHE_PATH", str(tmp_path / "cache" / "responses.sqlite"))
    """A read-only dir (a resumed job's, say) is not cured by skipping the checks."""
    job = tmp_path / "job"
    job.mkdir()
    (job / "results.jsonl").write_text("{}\n")
    real_access = __import__("os").access
    monkeypatch.setattr("evalsweep.job.validation_helpers.os.access",
                        lambda p, mode: False if Path(p) == job else real_access(p, mode))
    ctx = JobContext(output_dir=job, seeds=[42], machine=Machine(cores=8, memory_available=32 * GB,
                                                                 memory_total=64 * GB, process_rss=GB // 8))
    exp = compose_exp()
    assert check_output_path(exp, ctx).status == "fail"
    line = str(validate(exp, ctx).error())
    assert "permissions" in line and "choose another dir" in line and "hydra.run.dir" in line
    assert "skip_validation" not in line
    # A spec gap alone still offers the skip.
    elsewhere = ctx.model_copy(update={"output_dir": tmp_path / "ok"})
    spec_gap = str(validate(compose_exp("spec.graphs=[]"), elsewhere).error())
    assert "skip_validation=true" in spec_gap
