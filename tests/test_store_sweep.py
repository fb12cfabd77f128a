"""The sweep-wide budget on one machine (the local store: a sqlite file in the sweep dir), and the
store's checks before any request: a malformed or unreachable store URL, a sqlite cache on a
network file system."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from conftest import job_dirs, read_jsonl, run_cli_quiet, summary
from evalsweep.errors import ConfigError
from evalsweep.store import netfs
from evalsweep.store.budget import BUDGET_FILE

PRICE = ["model.price.input_per_mtok=1000", "model.price.output_per_mtok=3000", "model.max_tokens=32"]


def test_a_six_job_sweep_stops_within_one_request_of_its_budget_and_the_report_says_why(tmp_path: Path) -> None:
    cap = 0.9  # about half of what the 6 jobs x 8 samples cost at these prices
    sweep = tmp_path / "sweep"
    proc = run_cli_quiet(["-m", "model=sim_weak,sim_strong", "seed=42,43,44", f"sweep.max_cost_usd={cap}", *PRICE,
                          "dataset.max_samples=8", "++spec.skip_validation=true", f"hydra.sweep.dir={sweep}"],
                         tmp_path, report=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = job_dirs(sweep)
    assert len(jobs) == 6
    sums = [summary(j) for j in jobs]
    rows = [r for j in jobs for r in read_jsonl(j / "results.jsonl")]
    total = sum(s["cost_usd"] for s in sums)
    one = max(r["cost_usd"] for r in rows)
    assert cap - one <= total <= cap + one, (total, one)
    assert abs(total - sum(r["cost_usd"] for r in rows)) < 1e-6  # the summaries count what the rows cost
    # Every job's results are valid: whole rows, each an answer, as many as its summary counts.
    for job, s in zip(jobs, sums):
        got = read_jsonl(job / "results.jsonl")
        assert len(got) == s["n_done"] and s["n_done"] + s["n_not_run"] == 8
        assert all(r["error"] is None and r["output"] for r in got) and s["sweep_budget_usd"] == cap
    stopped = [s for s in sums if s["budget_stopped"]]
    assert stopped and sum(s["n_done"] for s in sums) < 48
    assert all(s["status"] == "incomplete" and "sweep budget of $0.9 reached" in s["stop_reason"] for s in stopped)
    assert [s for s in sums if s["status"] == "complete"]  # the jobs before the cap ran whole
    assert (sweep / BUDGET_FILE).is_file()
    report = (sweep / "report.md").read_text()
    assert "The sweep's budget stopped it: sweep budget of $0.9 reached" in report
    print(f"sweep budget ${cap}: spent ${total:.4f} over {len(rows)} requests (one request at most ${one:.4f}); "
          f"{len(stopped)} of 6 jobs stopped by it")


def test_a_malformed_store_url_is_one_config_line(run_job_inproc, tmp_path: Path) -> None:
    got = run_job_inproc(["store.url=http://redis-host:6379", "++spec.skip_validation=true"], tmp_path / "job")
    assert isinstance(got, ConfigError) and got.exit_code == 2
    assert "store.url" in str(got) and "redis://host:6379/0" in str(got)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_store_stops_the_job_before_any_request(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    proc = run_cli_quiet(["++spec.skip_validation=true", f"hydra.run.dir={tmp_path / 'job'}"], tmp_path,
                         env={"EVALSWEEP_STORE_URL": url})
    assert proc.returncode == 2
    err = [ln for ln in proc.stderr.splitlines() if ln.startswith("evalsweep: error:")]
    assert len(err) == 1 and f"cannot reach the store at {url}" in err[0] and "redis-server" in err[0]
    assert not (tmp_path / "job" / "results.jsonl").exists()


def test_a_sqlite_cache_on_a_network_file_system_is_refused_unless_allowed(
        run_job_inproc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # /proc/mounts as on a cluster whose home dirs are NFS: the test's tmp dir is one of them.
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/sda1 / ext4 rw 0 0\nnfs-server:/export/home {tmp_path} nfs4 rw,relatime 0 0\n")
    monkeypatch.setattr(netfs, "MOUNTS", mounts)
    args = ["++spec.skip_validation=true", "dataset.max_samples=2"]
    got = run_job_inproc(args, tmp_path / "job")
    assert isinstance(got, ConfigError) and got.exit_code == 2
    text = str(got)
    assert "network file system (nfs4" in text and "store.url=redis://" in text and "store.allow_network_fs" in text
    assert not (tmp_path / "job" / "results.jsonl").exists()
    ok = run_job_inproc([*args, "store.allow_network_fs=true"], tmp_path / "job2")
    assert not isinstance(ok, Exception) and ok.summary is not None and ok.summary.status == "complete"


def test_mounts_are_read_as_the_kernel_writes_them(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    (tmp_path / "my data").mkdir()
    mounts.write_text(f"/dev/sda1 / ext4 rw 0 0\nserver:/x {str(tmp_path / 'my data').replace(' ', chr(92) + '040')} "
                      f"lustre rw 0 0\n")
    assert netfs.network_mount(tmp_path / "my data" / "new" / "cache.sqlite", mounts).fs_type == "lustre"
    assert netfs.network_mount(tmp_path / "elsewhere.sqlite", mounts) is None  # on / (ext4)
    assert netfs.mount_of(tmp_path, tmp_path / "no-such-file") is None  # a platform without /proc/mounts
    json.dumps(netfs.mount_of(tmp_path, mounts).model_dump())  # a plain model, fit for a message


def test_a_sweep_whose_store_cannot_be_reached_runs_no_job(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    sweep = tmp_path / "sweep"
    proc = run_cli_quiet(["-m", "seed=1,2", "++spec.skip_validation=true", f"store.url={url}",
                          f"hydra.sweep.dir={sweep}"], tmp_path)
    assert proc.returncode == 2
    err = [ln for ln in proc.stderr.splitlines() if ln.startswith("evalsweep: error:")]
    assert len(err) == 1 and "of the sweep, so no job was run: cannot reach the store" in err[0]
    assert not sweep.exists() or not job_dirs(sweep)


@pytest.mark.parametrize(("url", "says"), [
    ("http://host:6379", "not a Redis URL"), ("redis://host:6379/zero", "must be a number"),
    ("redis://:6379/0", "names no host"), ("redis://host:99999/0", "malformed store URL"),
    ("unix://", "names no socket")])
def test_each_malformed_store_url_says_what_is_wrong(url: str, says: str) -> None:
    from evalsweep.config.store import check_store_url

    with pytest.raises(ValueError, match=says):
        check_store_url(url)
    assert check_store_url("rediss://:pw@host:6380/2") == "rediss://:pw@host:6380/2"


def test_a_malformed_store_url_in_the_environment_is_one_line(run_job_inproc, tmp_path: Path) -> None:
    got = run_job_inproc(["++spec.skip_validation=true"], tmp_path / "job", env={"EVALSWEEP_STORE_URL": "host:6379"})
    assert isinstance(got, ConfigError) and got.exit_code == 2
    assert str(got).startswith("EVALSWEEP_STORE_URL: store URL 'host:6379' is not a Redis URL")
    assert not (tmp_path / "job" / "results.jsonl").exists()
