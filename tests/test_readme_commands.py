"""Every command of README.md's shell blocks, run as a user types it, must work as written.

The commands run in a subprocess (`bash -c`, the line as written) from a scratch checkout: a tmp dir
whose run.py, conf/, data/, scripts/, sweeps/, Makefile, lock file and .venv are links to the
project's, so `outputs/` and `multirun/` (and `reports/`) land in tmp and nothing is written into the
repo. Each command gets a response cache of its own (EVALSWEEP_CACHE_PATH), empty API keys, wandb
offline with its dirs in tmp, and a shared-limit file in tmp.

What the test changes in a command, and why (adjusted() and fill() below):
- `python` is the venv's python (the README says once to `source .venv/bin/activate`).
- Sweeps (`-m` or `experiment=`) ask 10 items per job (`dataset.max_samples=10`, unless the command
  sets it): the same design on fewer items, to keep the test's CPU time down on two shared cores.
- Every run.py command but the shared sweep (`-m model=sim_weak,sim_strong seed=42,43,44`) runs with
  `tracker=none`: a wandb run costs seconds per job; the shared sweep keeps its offline wandb runs, which
  `python -m evalsweep.wandb_offline` then reads.
- Only the shared sweep and the four `experiment=` sweeps write their sweep report (the others get
  `hydra.callbacks.report.enabled=false`): the callback is the same code each time, and a report with
  its plots costs seconds; the report commands then run scripts/report.py on these sweeps.
- Placeholders and example dirs are filled from sweeps the test runs first (PRODUCERS): the README's
  example sweep dir, `<dir>`, `multirun/A` and `multirun/<date>/<time>` are the shared sweep; `multirun/B`
  is the `seed='range(40,45)'` sweep; `outputs/X/Y` the single default job; `<dir>` of `--group-by
  category` the refusal_by_category sweep; `<dir>` of `--metric length` a small sweep of the test's own
  scored by docs/experiments.md's refusal_and_length (the shipped scorers have no `length` metric); in
  the judge block `multirun/<date>/<time>` is the sweep its second line runs; `...` is the rest of the
  parallel sweep above it; `NAME` is sim-weak; `[optional parts]` run once with all of them and once
  without.
Commands that cannot run offline or here are skipped by a rule of SKIPS, with its reason.
Every command that runs must exit 0 and print no traceback. Independent commands run WORKERS at a time;
the whole set is ~190 CPU-seconds (each README sweep runs all its jobs: ~90 of them in all).
"""

from __future__ import annotations

import os
import re
import resource
import shlex
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LINKED = [".venv", ".tools", "run.py", "conf", "data", "scripts", "src", "sweeps", "Makefile", "uv.lock",
          "pyproject.toml"]
TIMEOUT_S = 240
WORKERS = 3
SWEEP_ITEMS = "dataset.max_samples=10"
NO_REPORT = "hydra.callbacks.report.enabled=false"

# The sweeps whose dirs fill the placeholders: a README command (as the test runs it, `python` already
# the venv's), by the name needs() and fill() use.
SHARED = ".venv/bin/python run.py -m model=sim_weak,sim_strong seed=42,43,44"
PRODUCERS = {
    "shared": SHARED,
    "range": ".venv/bin/python run.py -m model=sim_weak,sim_strong prompt=direct,cot seed='range(40,45)'",
    "single": ".venv/bin/python run.py",
    "refusal": ".venv/bin/python run.py experiment=refusal_by_category",
}
# A sweep with a metric outside [0, 1], for `--metric length`: the scorer docs/experiments.md shows.
LENGTH_SCORER = '''def refusal_and_length(output, sample):
    return {"refused": float(output.startswith("I can't")), "length": len(output)}
refusal_and_length.metrics = ("refused", "length")
'''
LENGTH_SWEEP = (".venv/bin/python run.py -m model=sim_weak,sim_strong dataset=refusals prompt=plain "
                "scorer.type=mylab.scorers:refusal_and_length seed=42 tracker=none "
                + NO_REPORT)

# (pattern on the command, reason): commands that cannot run here.
SKIPS: list[tuple[str, str]] = [
    (r"^make test\b", "runs the whole test suite, this test included"),
    (r"hydra/launcher=(slurm|submitit)", "needs a SLURM cluster (submitit launcher)"),
    (r"\bmodel=\S*\b(gpt4|claude)\b", "needs an API key: real providers (model=gpt4, model=claude)"),
    (r"^wandb (sync|sweep)\b", "talks to wandb.ai: needs an account and the network"),
    (r"^xdg-open\b", "opens a browser; the test checks instead that the file it names was written"),
    (r"^make bench\b", "the full benchmark suite takes minutes and rewrites docs/benchmarks.*; "
                       "tests/test_bench_smoke.py runs it small"),
]

# The README's example of a sweep dir: a placeholder for the shared sweep's.
EXAMPLE_SWEEP = "multirun/2026-11-26/12-49-41.480214"


@dataclass(frozen=True)
class Command:
    """One line of a README shell block, its comment removed."""

    block: int
    lineno: int
    text: str
    comment: str = ""

    @property
    def id(self) -> str:
        return f"L{self.lineno}:{self.text[:70]}"


def readme_blocks(text: str) -> list[list[Command]]:
    """The ```bash (or sh/shell) blocks of the README, each a list of its commands."""
    blocks: list[list[Command]] = []
    current: list[Command] | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        fence = line.strip()
        if current is None:
            if re.fullmatch(r"```(bash|sh|shell)", fence):
                current = []
            continue
        if fence == "```":
            blocks.append(current)
            current = None
            continue
        command, _, comment = line.partition(" #")
        if command.strip() and not command.strip().startswith("#"):
            current.append(Command(len(blocks), lineno, command.strip(), comment.strip()))
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))
COMMANDS = [c for block in BLOCKS for c in block]


def skip_reason(command: Command) -> str | None:
    for pattern, reason in SKIPS:
        if re.search(pattern, command.text):
            return reason
    return None


def as_run(text: str) -> str:
    """The command with `python` as the venv's python."""
    return re.sub(r"^python\b", ".venv/bin/python", text)


def is_sweep(text: str) -> bool:
    return "run.py" in text and (" -m " in f" {text} " or "experiment=" in text)


def adjusted(text: str) -> str:
    """The rules of the module docstring for run.py commands: fewer items per sweep job, no wandb run
    but in the shared sweep, no sweep report but in the shared sweep and the experiments."""
    if "run.py" not in text:
        return text
    extra = []
    if is_sweep(text) and "dataset.max_samples=" not in text:
        extra.append(SWEEP_ITEMS)
    if text != SHARED and "tracker=" not in text:
        extra.append("tracker=none")
    if is_sweep(text) and text != SHARED and "experiment=" not in text:
        extra.append(NO_REPORT)
    return " ".join([text, *extra])


def optional_forms(text: str) -> list[str]:
    """`a [--b c] [--d]` -> with every optional part, then without any."""
    if "[" not in text:
        return [text]
    full = re.sub(r"\[([^\]]*)\]", r"\1", text)
    bare = re.sub(r"\s*\[[^\]]*\]", "", text)
    return [full, bare]


def needs(text: str, block: list[Command]) -> list[str]:
    """The sweeps (by name) a command's placeholders are filled from."""
    if any("scripts/classify.py" in c.text for c in block):
        return []  # the judge block fills from its own sweep
    names = []
    if EXAMPLE_SWEEP in text or "multirun/A" in text or "<date>/<time>" in text:
        names.append("shared")
    if "multirun/B" in text:
        names.append("range")
    if "outputs/X/Y" in text:
        names.append("single")
    if "<dir>" in text:
        names.append("length" if "--metric length" in text
                     else "refusal" if "--group-by category" in text else "shared")
    return names


def fill(text: str, dirs: dict[str, Path], block: list[Command], own_sweep: Path | None) -> str:
    """Placeholders replaced by the dirs of the sweeps named in the module docstring."""
    if own_sweep is not None:
        text = text.replace("multirun/<date>/<time>", str(own_sweep))
    for name, pattern in (("shared", EXAMPLE_SWEEP), ("shared", "multirun/A"), ("range", "multirun/B"),
                          ("single", "outputs/X/Y"), ("shared", "multirun/<date>/<time>")):
        if pattern in text:
            text = text.replace(pattern, str(dirs[name]))
    if "<dir>" in text:
        text = text.replace("<dir>", str(dirs[needs(text, block)[-1]]))
    if text.endswith(" ..."):
        parallel = next(c.text for c in block if "hydra/launcher=parallel" in c.text and "..." not in c.text)
        text = text[:-4] + " " + parallel.split("hydra/launcher=parallel", 1)[1].strip()
    return text.replace("[--model NAME]", "[--model sim-weak]")


@dataclass
class Outcome:
    """What one command did."""

    command: str
    returncode: int
    output: str
    seconds: float
    out_dir: Path | None = None
    jobs: int = 0


@dataclass
class Session:
    """The scratch checkout, its environment, and each README line's outcomes (by line number)."""

    root: Path
    tmp: Path
    outcomes: dict[int, list[Outcome]] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)

    def env(self, name: str, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "EVALSWEEP_"))}
        return {**base, "OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "", "WANDB_MODE": "offline",
                "WANDB_SILENT": "true", "WANDB_DIR": str(self.tmp / "wandb"),
                "WANDB_CACHE_DIR": str(self.tmp / "wandb-cache"), "WANDB_CONFIG_DIR": str(self.tmp / "wandb-config"),
                "WANDB_DATA_DIR": str(self.tmp / "wandb-data"),
                "EVALSWEEP_CACHE_PATH": str(self.tmp / "cache" / f"{name}.sqlite"),
                "EVALSWEEP_LIMITS_PATH": str(self.tmp / "limits.sqlite"), **extra}

    def run(self, text: str, env: dict[str, str]) -> Outcome:
        start = time.monotonic()
        proc = subprocess.run(["bash", "-c", text], cwd=self.root, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT_S)
        output = proc.stdout + proc.stderr
        outcome = Outcome(text, proc.returncode, output, time.monotonic() - start, job_parent(output),
                          len(set(re.findall(r" -> (/\S+)", output))))
        if os.environ.get("README_COMMANDS_TRACE"):  # each command and its time as it ends, to tune the test
            print(f"{outcome.seconds:6.1f}s rc={outcome.returncode} {text[:120]}", file=sys.stderr, flush=True)
        return outcome


def job_parent(output: str) -> Path | None:
    """The dir a run.py command wrote: its single job's dir, or the sweep dir its jobs are in (from
    each job's closing log line `... -> <dir>`)."""
    dirs = [Path(m) for m in re.findall(r" -> (/\S+)", output)]
    if not dirs:
        return None
    if len(dirs) == 1 and not dirs[0].name.isdigit():
        return dirs[0]
    parents = {d.parent for d in dirs}
    assert len(parents) == 1, f"jobs in several dirs: {parents}"
    return parents.pop()


def scratch_checkout(root: Path) -> None:
    root.mkdir()
    for name in LINKED:
        (root / name).symlink_to(ROOT / name)
    (root / "mylab").mkdir()
    (root / "mylab" / "__init__.py").write_text("")
    (root / "mylab" / "scorers.py").write_text(LENGTH_SCORER)


def make_setup_is_current(session: Session) -> bool:
    """`make run` would re-sync the shared .venv when the lock file or pyproject.toml changed since
    its last sync: the test never does that (other work uses that venv). The sync's stamp file, not
    the phony `setup` target, which always has its bytecode step to run."""
    proc = subprocess.run(["make", "-q", ".venv/.synced"], cwd=session.root, capture_output=True, text=True)
    return proc.returncode == 0


Results = list[tuple[int, list[Outcome]]]  # (README line, what its command's forms did)


def in_order(block: list[Command]) -> bool:
    """A block whose later lines read what its earlier ones wrote: the cache's runs then its stats,
    prune and clear; the judge block's sweep then classify and report on that sweep."""
    return any("-m evalsweep.cache" in c.text or "scripts/classify.py" in c.text for c in block)


def run_all(session: Session) -> None:
    """Every README command, the sweeps that fill placeholders first, independent commands in parallel."""
    pool = ThreadPoolExecutor(max_workers=WORKERS)
    made: dict[str, Future[Outcome]] = {}
    tasks: list[tuple[int, Future[Results]]] = []

    def sweep_dir(name: str) -> Path:
        outcome = made[name].result()
        assert outcome.out_dir is not None, f"{outcome.command} wrote no job dir:\n{outcome.output[-2000:]}"
        return outcome.out_dir

    def one(command: Command, block: list[Command]) -> Results:
        text = as_run(command.text)
        if text in PRODUCERS.values():
            name = next(n for n, t in PRODUCERS.items() if t == text)
            return [(command.lineno, [made[name].result()])]
        filled = fill(text, {n: sweep_dir(n) for n in needs(text, block)}, block, None)
        env = session.env(f"L{command.lineno}")
        return [(command.lineno, [session.run(adjusted(form), env) for form in optional_forms(filled)])]

    for name, text in PRODUCERS.items():
        made[name] = pool.submit(session.run, adjusted(text), session.env(name))
    made["length"] = pool.submit(session.run, f"{LENGTH_SWEEP} {SWEEP_ITEMS}",
                                 session.env("length", PYTHONPATH=str(session.root)))
    make_ok = make_setup_is_current(session)
    for block in BLOCKS:
        runnable = []
        for command in block:
            reason = skip_reason(command)
            if reason is None and command.text.startswith("make ") and not make_ok:
                reason = "the .venv is older than uv.lock/pyproject.toml: make would re-sync the shared venv"
            if reason is not None:
                session.skipped[command.lineno] = reason
            else:
                runnable.append(command)
        if runnable and in_order(block):
            tasks.append((runnable[0].lineno, pool.submit(ordered_block, session, runnable, block)))
        else:
            tasks += [(c.lineno, pool.submit(one, c, block)) for c in runnable]
    for lineno, future in tasks:
        try:
            session.outcomes.update(future.result())
        except (AssertionError, KeyError, subprocess.TimeoutExpired) as exc:
            session.errors[lineno] = repr(exc)  # shown as that command's failure
    pool.shutdown()


def ordered_block(session: Session, runnable: list[Command], block: list[Command]) -> Results:
    """An in_order block, line by line, with one cache; its own sweep fills its `multirun/<date>/<time>`."""
    results: Results = []
    own: list[Path] = []
    env = session.env(f"block{runnable[0].block}")
    for command in runnable:
        text = fill(as_run(command.text), {}, block, own[-1] if own else None)
        outcomes = [session.run(adjusted(form), env) for form in optional_forms(text)]
        own += [o.out_dir for o in outcomes if o.out_dir is not None and " -m " in o.command]
        results.append((command.lineno, outcomes))
    return results


def problems(session: Session, command: Command) -> list[str]:
    """What is wrong with what one README command did (nothing: it works as written)."""
    if command.lineno in session.errors:
        return [f"L{command.lineno} {command.text}: {session.errors[command.lineno]}"]
    found = []
    outcomes = session.outcomes[command.lineno]
    for outcome in outcomes:
        shown = f"L{command.lineno} $ {outcome.command}\n(exit {outcome.returncode})\n{outcome.output[-3000:]}"
        if outcome.returncode != 0 or "Traceback (most recent call last)" in outcome.output:
            found.append(shown)
        elif outcome.out_dir is not None and session.root not in outcome.out_dir.parents:
            found.append(f"wrote outside the scratch checkout: {outcome.out_dir}\n{shown}")
    # A comment that counts the jobs ("6 jobs", "the 12-job comparison"; not "4 jobs at once") is held to it.
    stated = re.search(r"\b(\d+)(?:-job| jobs\b(?! at once))", command.comment)
    if stated and [o.jobs for o in outcomes] != [int(stated[1])]:
        found.append(f"L{command.lineno} {command.text}: '{command.comment}', ran {[o.jobs for o in outcomes]} jobs")
    return found


def test_readme_starts_with_make_run_and_make_test() -> None:
    text = README.read_text(encoding="utf-8")
    assert [c.text for c in BLOCKS[0][:2]] == ["make run", "make test"], BLOCKS[0][:2]
    assert text.index("```bash") < text.index("\n## ")


def test_producers_are_readme_commands() -> None:
    """The sweeps that fill placeholders are commands of the README itself."""
    texts = {as_run(c.text) for c in COMMANDS}
    assert set(PRODUCERS.values()) <= texts, set(PRODUCERS.values()) - texts


# One test for all commands: they share sweeps and run in parallel, and one test runs them once under
# pytest-xdist too (a fixture shared by several tests would run on every worker that got one).
@pytest.mark.timeout(900)
def test_every_readme_command_works_as_written(tmp_path: Path) -> None:
    session = Session(root=tmp_path / "checkout", tmp=tmp_path)
    scratch_checkout(session.root)
    start = time.monotonic()
    run_all(session)
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"README commands: {time.monotonic() - start:.1f}s wall, {cpu.ru_utime + cpu.ru_stime:.1f}s CPU")
    for lineno, reason in sorted(session.skipped.items()):
        print(f"  skipped L{lineno}: {reason}")
    # A venv synced after the lock file and pyproject.toml last changed runs the make commands: the
    # skip for a stale venv once fired on every machine and hid `make run`.
    stamp = ROOT / ".venv" / ".synced"
    inputs = [ROOT / "uv.lock", ROOT / "pyproject.toml"]
    if stamp.is_file() and all(stamp.stat().st_mtime >= f.stat().st_mtime for f in inputs):
        assert not [n for n, why in session.skipped.items() if why.startswith("the .venv is older")], session.skipped
    found = [p for c in COMMANDS if c.lineno not in session.skipped for p in problems(session, c)]
    # xdg-open is skipped; the report.html it names must be in the filled sweep dir.
    shared = session.outcomes[next(c.lineno for c in COMMANDS if as_run(c.text) == SHARED)][0].out_dir
    for command in (c for c in COMMANDS if c.text.startswith("xdg-open")):
        target = Path(shlex.split(command.text)[1].replace(EXAMPLE_SWEEP, str(shared)))
        if not target.is_file():
            found.append(f"L{command.lineno} {command.text}: no {target}")
    assert not found, f"{len(found)} README command(s) do not work as written:\n\n" + "\n\n".join(found)
