"""No key in any file a job writes, nor in what it prints: untracked notes are listed, not copied;
a key typed where a variable name belongs is refused without being repeated; every record file
is redacted of the key variables' values and of key-shaped strings. Jobs run in-process
(evalsweep.run_job), or as `python run.py` where its output or a copy of the project is the point."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import PY, ROOT, InprocJob, run_cli
from evalsweep.api import JobResult
from evalsweep.results import record
from evalsweep.config.model import ModelConfig
from evalsweep.config.schema import validate
from evalsweep.errors import ConfigError
from evalsweep.config.key_shapes import is_env_name, looks_like_key
from evalsweep.results.redact import REDACTED, redact_text, safe_override, secret_values

# Put together at run time: this file itself never holds the fake key in one piece.
# Its middle, the needle searched for, is split too: a job run while this file is edited records
# the edit in repro/git.patch, which must not then hold the needle itself.
KEY_PART = "THISIS" + "AFAKEKEY"
FAKE_KEY = "sk-test-" + KEY_PART + "123456"


def _git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=cwd,
                         capture_output=True, text=True, check=True)
    return out.stdout


def _files_holding(root: Path, needle: str) -> list[str]:
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and needle.encode() in p.read_bytes())


def _project_copy(dest: Path) -> Path:
    """The project's working tree as it is now (committed or not), as a clean git repository of
    its own: a job run from it records that repository, and nothing is ever added to ROOT."""
    listed = _git(ROOT, "ls-files", "-co", "--exclude-standard", "-z").split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "copy")
    return dest


def test_untracked_files_with_a_key_reach_no_job_output(tmp_path: Path) -> None:
    repo = _project_copy(tmp_path / "repo")
    (repo / "notes.txt").write_text(f"openai: {FAKE_KEY}\n")  # the case of the issue
    (repo / "conf" / "local_keys.yaml").write_text(f"key: {FAKE_KEY}\n")  # source-like, holds a key
    (repo / "scripts" / "try_it.py").write_text(f'KEY = "{FAKE_KEY}"\n')
    (repo / ".env").write_text(f"OPENAI_API_KEY={FAKE_KEY}\n")
    (repo / "conf" / "prompt" / "mine.yaml").write_text("name: mine\nuser: '{input}'\n")  # fine to carry
    out = tmp_path / "job"
    env = {**os.environ, "OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "", "WANDB_MODE": "offline",
           "PYTHONPATH": str(repo / "src"), "EVALSWEEP_CACHE_PATH": str(tmp_path / "cache.sqlite")}
    env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.run([PY, str(repo / "run.py"), "tracker=none", "dataset.max_samples=3", f"hydra.run.dir={out}"],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert FAKE_KEY not in proc.stdout + proc.stderr
    assert _files_holding(out, FAKE_KEY) == []
    assert _files_holding(out, KEY_PART) == []
    rec = record.load(out)
    assert rec.git.commit == _git(repo, "rev-parse", "HEAD").strip()  # the copy's record, not ROOT's
    listed = {"notes.txt", "conf/local_keys.yaml", "scripts/try_it.py"}
    assert listed <= set(rec.git.untracked) and listed <= set(rec.git.untracked_not_in_patch)
    patch = (out / "repro" / "git.patch").read_text()
    assert "conf/prompt/mine.yaml" in patch and "notes.txt" not in patch


def test_a_key_given_as_api_key_env_is_refused_and_never_repeated(tmp_path: Path, run_job_inproc: InprocJob,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    where = tmp_path / "out"
    err = run_job_inproc(["model=gpt4", f"model.api_key_env={FAKE_KEY}", "dataset.max_samples=2"], where)
    # The error run.py prints as its one line (exit 2); nothing printed or written repeats the key.
    assert isinstance(err, ConfigError) and err.exit_code == 2, err
    assert "\n" not in str(err) and "api_key_env" in str(err) and "not shown" in str(err)
    printed = capsys.readouterr()
    for text in (str(err), printed.out, printed.err):
        assert FAKE_KEY not in text and KEY_PART not in text
    assert _files_holding(tmp_path, KEY_PART) == []
    assert not (where / ".hydra").exists()


def test_a_key_given_as_api_key_env_of_a_sweep_is_refused_on_one_line(tmp_path: Path,
                                                                      cache_env: dict[str, str]) -> None:
    where = tmp_path / "out"
    r = run_cli(["-m", "model=gpt4", f"model.api_key_env={FAKE_KEY}", "tracker=none", "dataset.max_samples=2",
                 "seed=1,2", f"hydra.sweep.dir={where}"], env=cache_env)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "api_key_env" in lines[0] and "not shown" in lines[0]
    for text in (r.stdout, r.stderr):
        assert FAKE_KEY not in text and KEY_PART not in text
    assert _files_holding(tmp_path, KEY_PART) == []
    assert not (where / ".hydra").exists() and not (where / "0" / ".hydra").exists()


def test_a_judge_key_given_as_its_api_key_env_is_refused(tmp_path: Path, run_job_inproc: InprocJob,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    err = run_job_inproc(["scorer=judge", f"+scorer.judge_overrides.api_key_env={FAKE_KEY}", "dataset.max_samples=2"],
                         tmp_path / "job")
    assert isinstance(err, ConfigError) and err.exit_code == 2, err
    printed = capsys.readouterr()
    assert KEY_PART not in str(err) + printed.out + printed.err and "api_key_env" in str(err)
    assert _files_holding(tmp_path, KEY_PART) == []


# ---- the pieces --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "MY_KEY_2", "_X", "azure_openai_key_westeurope2"])
def test_variable_names_are_accepted(name: str) -> None:
    assert is_env_name(name)
    assert ModelConfig(provider="openai", name="m", api_key_env=name).api_key_env == name


@pytest.mark.parametrize("value", [FAKE_KEY, "sk-ant-api03-" + "Ab9x" * 10, "sk-" + uuid.uuid4().hex,
                                   "a1b2c3d4e5f6a7b8c9d0e1f2a3b4", "has space", "1STARTS_WITH_DIGIT", "x-y"],
                         ids=["sk", "sk-ant", "sk-uuid", "hex", "space", "digit", "dash"])  # stable ids for xdist
def test_anything_else_is_refused_without_being_shown(value: str) -> None:
    assert not is_env_name(value)
    cfg = {"model": {"provider": "openai", "name": "m", "api_key_env": value},
           "dataset": {"name": "d", "path": "data/arithmetic.jsonl"}, "prompt": {"name": "p", "user": "{input}"},
           "seed": 1}
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert value not in str(err.value) and "api_key_env" in str(err.value)


def test_key_shapes() -> None:
    assert looks_like_key(FAKE_KEY) and looks_like_key(f'"token": "{uuid.uuid4().hex}"')
    for fine in ("sk-" + "learn-benchmarks-2024", "api_key_env: OPENAI_API_KEY", "max_tokens: 256",
                 "commit: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "task-"):
        assert not looks_like_key(fine), fine
    text, changed = redact_text(f"a {FAKE_KEY} b; password = Zx81Qw77Lm09Kp44Rt66 c; plain-secret-here", ["plain-secret-here"])
    assert changed and text == f"a {REDACTED} b; password = {REDACTED} c; {REDACTED}"
    assert safe_override(f"model.api_key_env={FAKE_KEY}") == f"model.api_key_env={REDACTED}"
    assert safe_override("model.api_key_env=A_KEY,B_KEY") == "model.api_key_env=A_KEY,B_KEY"


def test_secret_values_take_the_configured_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_PROVIDER_CRED", "value-of-my-provider-1")  # no *_API_KEY suffix: named by the config
    monkeypatch.setenv("OPENAI_API_KEY", "short")  # too short to redact everywhere
    cfg = {"model": {"api_key_env": "MY_PROVIDER_CRED"}, "scorer": {"judge": None}}
    assert "value-of-my-provider-1" in secret_values(cfg)
    assert "value-of-my-provider-1" not in secret_values({})
    assert "short" not in secret_values(cfg)


def test_every_record_file_is_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_value = "plain-but-secret-" + uuid.uuid4().hex[:8]
    monkeypatch.setenv("MY_PROVIDER_CRED", env_value)
    monkeypatch.setattr("sys.argv", ["run.py", f"spec.hypothesis=uses {env_value}", f"x={FAKE_KEY}"])
    cfg = {"seed": 1, "model": {"api_key_env": "MY_PROVIDER_CRED", "base_url": f"http://h/?api_key={FAKE_KEY}"},
           "spec": {"hypothesis": f"note {env_value}"}}
    job = record.JobInfo(output_dir=str(tmp_path / "out"), overrides=[f"spec.hypothesis=uses {env_value}", f"x={FAKE_KEY}"])
    with record.recording(seed=1, cfg_container=cfg, job=job, out_dir=tmp_path / "out"):
        pass
    repro = tmp_path / "out" / "repro"
    for needle in (env_value, FAKE_KEY, KEY_PART):
        assert _files_holding(repro, needle) == [], needle
    saved = json.loads((repro / "record.json").read_text())
    assert REDACTED in " ".join(saved["command"]["argv"]) and saved["status"] == "complete"
    assert REDACTED in (repro / "config.yaml").read_text()


def test_summary_json_is_redacted(tmp_path: Path, run_job_inproc: InprocJob) -> None:
    from evalsweep.job import summary

    out = tmp_path / "job"
    res = run_job_inproc(["dataset.max_samples=2"], out)
    assert isinstance(res, JobResult), res
    s = summary.Summary.model_validate_json((out / "summary.json").read_text())
    s.config["spec"]["hypothesis"] = f"see {FAKE_KEY}"
    summary.write(s, tmp_path / "again.json")
    text = (tmp_path / "again.json").read_text()
    assert KEY_PART not in text and REDACTED in text
