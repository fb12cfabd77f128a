"""The `evalsweep` console script: the same app as run.py, and the project's other commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT, read_jsonl, run_cli

EVALSWEEP = Path(sys.executable).parent / "evalsweep"
SWEEP = ["-m", "model=sim_weak,sim_strong", "seed=42,43", "dataset.max_samples=6", "tracker=none",
         "run.progress=false", "cache.enabled=false", "hydra.callbacks.report.enabled=false"]


def _rows(sweep: Path) -> dict[str, list[tuple]]:
    return {job.name: sorted((r["model"], r["seed"], r["sample_id"], r["output"], r["score"])
                             for r in read_jsonl(job / "results.jsonl"))
            for job in sorted(sweep.iterdir()) if (job / "results.jsonl").is_file()}


def test_evalsweep_run_gives_the_results_of_run_py(tmp_path: Path) -> None:
    env = {**os.environ, "OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": ""}
    cmd = subprocess.run([str(EVALSWEEP), "run", *SWEEP, f"hydra.sweep.dir={tmp_path / 'cmd'}"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert cmd.returncode == 0, cmd.stderr[-2000:]
    script = run_cli([*SWEEP, f"hydra.sweep.dir={tmp_path / 'script'}"], timeout=300)
    assert script.returncode == 0, script.stderr[-2000:]
    a, b = _rows(tmp_path / "cmd"), _rows(tmp_path / "script")
    assert len(a) == 4 and a == b
    assert (tmp_path / "cmd" / "0" / "run.log").is_file()  # the same job name, so the same files


def test_evalsweep_help_lists_the_subcommands_and_refuses_an_unknown_one() -> None:
    out = subprocess.run([str(EVALSWEEP), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for name in ("run", "report", "classify", "cache", "sim"):
        assert f"\n  {name} " in out.stdout
    bad = subprocess.run([str(EVALSWEEP), "reprot"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown command 'reprot'" in bad.stderr


def test_help_says_what_the_tool_does_not_the_whole_config() -> None:
    out = run_cli(["--help"], timeout=60)
    assert out.returncode == 0
    text = out.stdout
    assert text.startswith("evalsweep: run LLM experiments")
    options = ", ".join(sorted(f.stem for f in (ROOT / "conf" / "model").glob("*.yaml")))
    assert f"model: {options}" in text and "== Examples ==" in text  # every option conf/model/ holds
    assert "Exit codes:" in text and "max_concurrency" not in text  # no config dump
    assert len(text.splitlines()) < 40


def test_tab_completion_offers_config_options_as_the_readme_says() -> None:
    script = ('source .venv/bin/activate; eval "$(python run.py -sc install=bash)"; '
              'COMP_LINE="python run.py model=sim_w"; COMP_POINT=${#COMP_LINE}; COMP_CWORD=2; '
              'hydra_bash_completion; echo "${COMPREPLY[@]}"')
    out = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["model=sim_weak"]


@pytest.mark.parametrize("enabled", [True, False])
def test_an_entry_is_loaded_with_the_collector_paused_and_its_state_kept(enabled: bool) -> None:
    """load_entry (run.py's and the command's first step) freezes what the imports made and leaves
    the collector as it found it; run in a child, since a freeze lasts for the whole process."""
    code = textwrap.dedent(f"""
        import gc, json
        from evalsweep.app.startup import load_entry
        {'' if enabled else 'gc.disable()'}
        during = []
        gc.callbacks.append(lambda phase, info: during.append(phase))
        entry = load_entry("evalsweep.app.main", "run")
        print(json.dumps([entry.__module__, gc.isenabled(), gc.get_freeze_count() > 1000, len(during)]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == ["evalsweep.app.main", enabled, True, 0]  # no collection ran during it
