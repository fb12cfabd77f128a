"""The reproducibility record: what it holds, that the patch really rebuilds a dirty tree, and
that the command rebuilt from it reruns a job to the same results on the simulator."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from conftest import NO_REPORT, ROOT, read_jsonl, run_cli
from evalsweep.app.config_flags import config_flags
from evalsweep.results import record
from evalsweep.results.record import MAX_UNTRACKED_BYTES, git_state, recording

# Built at run time, so this file (untracked while it is new) never holds the value itself.
SECRET = "sk-" + uuid.uuid4().hex


def _git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=cwd,
                         capture_output=True, text=True, check=True)
    return out.stdout


def outcomes(results: Path) -> list[tuple[str, int, str | None, float | None]]:
    return sorted((r["sample_id"], r["seed"], r["output"], r["score"]) for r in read_jsonl(results))


def rerun(rec: record.ReproRecord, out: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    """The command the record gives, with this interpreter for `python` and a new output dir."""
    argv = [sys.executable, *rec.command.rerun[1:], f"hydra.run.dir={out}"]
    assert rec.command.rerun[0] == "python" and rec.command.rerun[1] == "run.py"
    return subprocess.run(argv, cwd=rec.command.cwd, capture_output=True, text=True, timeout=180,
                          env={**_env(), "EVALSWEEP_CACHE_PATH": str(cache)})


def _env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["WANDB_MODE"] = "offline"
    return env


def test_record_of_a_run_and_its_rerun(tmp_path: Path) -> None:
    out = tmp_path / "first"
    env = {"EVALSWEEP_CACHE_PATH": str(tmp_path / "cache1.sqlite"), "OPENAI_API_KEY": SECRET}
    r = run_cli(["tracker=none", "dataset.max_samples=6", "seed=7", f"hydra.run.dir={out}"], env=env)
    assert r.returncode == 0, r.stderr
    rec = record.load(out)

    assert rec.status == "complete" and rec.seed == 7
    started, ended = datetime.fromisoformat(rec.started_utc), datetime.fromisoformat(rec.ended_utc or "")
    assert started.utcoffset() is not None and started.utcoffset().total_seconds() == 0 and started <= ended
    assert rec.command.task_overrides == ["tracker=none", "dataset.max_samples=6", "seed=7"]
    assert f"hydra.run.dir={out}" in rec.command.hydra_overrides and rec.command.argv[1:4] == rec.command.task_overrides
    assert rec.command.rerun_shell == "python run.py tracker=none dataset.max_samples=6 seed=7"
    assert rec.git.commit == _git(ROOT, "rev-parse", "HEAD").strip()
    assert rec.python["python"] == platform.python_version() and rec.python["platform"]
    assert rec.env["EVALSWEEP_CACHE_PATH"] == env["EVALSWEEP_CACHE_PATH"]
    from importlib.metadata import version

    assert rec.packages["pydantic"] == version("pydantic") and rec.packages["hydra-core"] == "1.3.8"
    reqs = (out / "repro" / "requirements.txt").read_text().splitlines()
    assert f"pydantic=={version('pydantic')}" in reqs and len(reqs) == len(rec.packages)
    config = (out / "repro" / "config.yaml").read_text()
    assert "${" not in config and "seed: 7" in config and "max_samples: 6" in config
    if rec.git.dirty or rec.git.untracked:
        assert (out / "repro" / "git.patch").is_file() and rec.files["patch"] == "repro/git.patch"
    for f in (out / "repro").iterdir():  # no key, ever
        assert SECRET not in f.read_text(errors="replace")

    again = tmp_path / "again"
    r2 = rerun(rec, again, tmp_path / "cache2.sqlite")
    assert r2.returncode == 0, r2.stderr
    first, second = outcomes(out / "results.jsonl"), outcomes(again / "results.jsonl")
    assert len(first) == 6 and second == first
    # A fresh cache: the simulator really answered the rerun, nothing was replayed.
    assert not any(r["cached"] for r in read_jsonl(again / "results.jsonl"))
    assert record.load(again).command.task_overrides == rec.command.task_overrides


@pytest.mark.slow
def test_rerun_of_one_job_of_a_sweep(tmp_path: Path, cache_env: dict[str, str]) -> None:
    sweep = tmp_path / "sweep"
    r = run_cli(["-m", "tracker=none", "dataset.max_samples=4", "seed=3,4", NO_REPORT, f"hydra.sweep.dir={sweep}"], env=cache_env)
    assert r.returncode == 0, r.stderr
    rec = record.load(sweep / "1")
    assert rec.job["multirun"] is True and rec.job["job_num"] == 1 and rec.seed == 4
    assert "-m" not in rec.command.rerun and "seed=4" in rec.command.rerun and "seed=3,4" not in rec.command.rerun
    r2 = rerun(rec, tmp_path / "again", tmp_path / "fresh.sqlite")
    assert r2.returncode == 0, r2.stderr
    assert outcomes(tmp_path / "again" / "results.jsonl") == outcomes(sweep / "1" / "results.jsonl")


# ---- git state and patch, in a throwaway repository ---------------------------------------

@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    (root / "tracked.txt").write_text("one\ntwo\n")
    (root / ".gitignore").write_text("ignored/\n")
    _git(root, "add", "tracked.txt", ".gitignore")
    _git(root, "commit", "-q", "-m", "base")
    return root


def test_clean_tree_has_no_patch(repo: Path) -> None:
    state, patch = git_state(repo)
    assert state.commit == _git(repo, "rev-parse", "HEAD").strip() and state.dirty is False
    assert patch == "" and state.untracked == []


def test_patch_rebuilds_the_working_tree(repo: Path, tmp_path: Path) -> None:
    (repo / "tracked.txt").write_text("one\nTWO\nthree\n")
    (repo / "new_module.py").write_text("print('not committed yet')\n")
    (repo / "conf").mkdir()
    (repo / "conf" / "sub.yaml").write_text("a: 1\n")
    (repo / "ignored").mkdir()
    (repo / "ignored" / "out.txt").write_text("never in a patch\n")
    (repo / "huge.py").write_bytes(b"#" * (MAX_UNTRACKED_BYTES + 1))
    # Not source (a note, data outside the source dirs, a binary): listed, never copied.
    (repo / "notes.txt").write_text("remember to rerun\n")
    (repo / "data").mkdir()
    (repo / "data" / "rows.csv").write_text("id,input\n1,x\n")
    (repo / "blob.bin").write_bytes(b"\0\1")
    state, patch = git_state(repo)
    assert state.dirty is True
    assert sorted(state.untracked) == ["blob.bin", "conf/sub.yaml", "data/rows.csv", "huge.py", "new_module.py",
                                       "notes.txt"]
    assert sorted(state.untracked_not_in_patch) == ["blob.bin", "data/rows.csv", "huge.py", "notes.txt"]
    assert "remember to rerun" not in patch and "1,x" not in patch

    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(repo), str(clone))
    _git(clone, "checkout", "-q", state.commit or "")
    (tmp_path / "p.patch").write_text(patch)
    _git(clone, "apply", str(tmp_path / "p.patch"))
    for rel in ("tracked.txt", "new_module.py", "conf/sub.yaml"):
        assert (clone / rel).read_text() == (repo / rel).read_text(), rel
    assert not (clone / "ignored").exists() and not (clone / "huge.py").exists() and not (clone / "notes.txt").exists()


def test_outside_git_the_record_says_so(tmp_path: Path) -> None:
    state, patch = git_state(tmp_path)
    assert state.commit is None and state.dirty is None and patch == ""


# ---- the record's life cycle -----------------------------------------------------------------

def _record_args(tmp_path: Path) -> dict:
    return {"seed": 1, "cfg_container": {"seed": 1, "spec": {"hypothesis": "h"}},
            "job": record.JobInfo(output_dir=str(tmp_path / "out"), overrides=["seed=1"]),
            "out_dir": tmp_path / "out"}


@pytest.mark.parametrize(("exc", "status"), [(RuntimeError("boom"), "failed"), (KeyboardInterrupt(), "interrupted")])
def test_record_is_stamped_however_the_job_ends(tmp_path: Path, exc: BaseException, status: str) -> None:
    with pytest.raises(type(exc)):
        with recording(**_record_args(tmp_path)) as rec:
            assert record.load(tmp_path / "out").status == "running"  # on disk before the job runs
            assert rec.ended_utc is None
            raise exc
    saved = json.loads((tmp_path / "out" / "repro" / "record.json").read_text())
    assert saved["status"] == status and saved["ended_utc"] is not None


def test_secrets_never_reach_the_patch(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-" + uuid.uuid4().hex
    monkeypatch.setenv("SOMEPROVIDER_API_KEY", secret)
    (repo / "tracked.txt").write_text(f"one\nkey = {secret}\n")
    (repo / "notes.txt").write_text(f"my key is {secret}\n")
    (repo / ".env.local").write_text("OTHER=value-not-in-env\n")
    (repo / "fine.py").write_text("x = 1\n")
    state, patch = git_state(repo)
    assert secret not in patch and "<redacted>" in patch and state.redacted
    assert sorted(state.untracked_not_in_patch) == [".env.local", "notes.txt"]
    assert "fine.py" in patch and "value-not-in-env" not in patch


def test_an_earlier_attempt_keeps_its_record(tmp_path: Path) -> None:
    args = _record_args(tmp_path)
    with recording(**args):
        pass
    first = record.load(tmp_path / "out")
    with recording(**{**args, "seed": 2}):  # e.g. the job resumed into the same dir
        pass
    second = record.load(tmp_path / "out")
    assert second.seed == 2 and second.earlier_attempts == 1
    kept = record.ReproRecord.model_validate_json(
        (tmp_path / "out" / "repro" / "earlier" / "1" / "record.json").read_text())
    assert kept.started_utc == first.started_utc and kept.seed == 1
    assert (tmp_path / "out" / "repro" / "earlier" / "1" / "config.yaml").is_file()
    with recording(**args):
        pass
    assert record.load(tmp_path / "out").earlier_attempts == 2


def test_rerun_keeps_the_config_dir(tmp_path: Path) -> None:
    """A job composed with --config-dir (here relative to a cwd other than the project's) is
    rerun with it, made absolute, from the record's cwd."""
    extra = tmp_path / "extra" / "model"
    extra.mkdir(parents=True)
    sim = (ROOT / "conf" / "model" / "sim.yaml").read_text()
    (extra / "tiny_sim.yaml").write_text(sim.replace("name: sim\n", "name: tiny-sim\n")
                                         .replace("accuracy: 0.75", "accuracy: 0.6"))
    out = tmp_path / "first"
    r = run_cli(["--config-dir", "extra", "model=tiny_sim", "tracker=none", "dataset.max_samples=5", "seed=3",
                 f"hydra.run.dir={out}"], env={"EVALSWEEP_CACHE_PATH": str(tmp_path / "c1.sqlite")}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rec = record.load(out)
    flag = rec.command.rerun.index("--config-dir")
    assert rec.command.rerun[flag + 1] == str((tmp_path / "extra").resolve())
    assert rec.command.rerun_shell.startswith(f"python run.py --config-dir {tmp_path.resolve() / 'extra'} ")
    assert {r["model"] for r in read_jsonl(out / "results.jsonl")} == {"tiny-sim"}

    again = tmp_path / "again"
    r2 = rerun(rec, again, tmp_path / "c2.sqlite")
    assert r2.returncode == 0, r2.stderr
    assert outcomes(again / "results.jsonl") == outcomes(out / "results.jsonl")
    assert not any(r["cached"] for r in read_jsonl(again / "results.jsonl"))


@pytest.mark.parametrize(("argv", "flags"), [
    (["--config-dir", "conf2", "seed=1"], ["--config-dir", "/w/conf2"]),
    (["--config-dir=/abs/c", "-cn", "other", "x=1"], ["--config-dir", "/abs/c", "--config-name", "other"]),
    (["-cd", "../up", "--config-path=conf3"], ["--config-dir", "/up", "--config-path", "conf3"]),
    (["-m", "seed=1,2"], []),
])
def test_config_flags_from_argv(argv: list[str], flags: list[str]) -> None:
    assert config_flags(argv, cwd=Path("/w")) == flags


def test_the_package_list_is_read_once_and_follows_an_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The jobs of a sweep share one listing, but a package installed in between is in the next one."""
    site = tmp_path / "site"
    site.mkdir()

    def install(name: str, version: str) -> None:
        info = site / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")

    install("evalsweep-probe-a", "1.0")
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    first = record.installed_packages()
    assert first["evalsweep-probe-a"] == "1.0" and "evalsweep-probe-b" not in first
    first["evalsweep-probe-a"] = "changed by a caller"
    assert record.installed_packages()["evalsweep-probe-a"] == "1.0"  # a copy each time
    hits = record._packages_on.cache_info().hits
    record.installed_packages()
    assert record._packages_on.cache_info().hits == hits + 1  # read once
    install("evalsweep-probe-b", "2.0")
    assert record.installed_packages()["evalsweep-probe-b"] == "2.0"


def test_the_package_list_is_what_the_metadata_parser_reads() -> None:
    """The header-only read of each METADATA gives the names and versions importlib.metadata gives."""
    from importlib import metadata

    expected: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and name.lower() not in {n.lower() for n in expected}:
            expected[name] = dist.version
    assert record.installed_packages() == expected and len(expected) > 50
