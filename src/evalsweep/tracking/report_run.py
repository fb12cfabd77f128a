"""The sweep's report as a wandb run of its own: in the sweep's group (beside its jobs' runs), job
type "report", with the report's tables and plots, offline unless WANDB_MODE / WANDB_API_KEY say
otherwise, living in <sweep dir>/wandb/. Written by the end-of-multirun callback when the jobs
track to wandb (tracker=wandb)."""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

from evalsweep.tracking.wandb_run import load_wandb, run_group, run_settings, wandb_mode
from evalsweep.results.record import JobInfo

log = logging.getLogger(__name__)
TABLES = ("variants.csv", "pairwise.csv", "prompt_sensitivity.csv")


def log_report(sweep_dir: Path, files: dict[str, Path], *, project: str, entity: str | None,
               simulated: bool) -> None:
    """One run holding the report: its CSV tables as wandb Tables, its PNG plots as images, and
    report.md / report.html as files."""
    wandb = load_wandb()
    group = run_group(JobInfo(output_dir=str(sweep_dir), sweep_dir=str(sweep_dir), multirun=True), sweep_dir)
    run = wandb.init(project=project, entity=entity, dir=str(sweep_dir), mode=wandb_mode(os.environ),  # type: ignore[arg-type]
                     group=group, name=f"report {group}"[:128], job_type="report",
                     tags=["simulated"] if simulated else [], settings=run_settings(),
                     config={"sweep_dir": str(sweep_dir), "simulated": simulated})
    failed = True
    try:
        logged: dict[str, object] = {}
        for name in TABLES:
            path = files.get(name)
            if path is not None and Path(path).is_file():
                with Path(path).open(encoding="utf-8") as f:
                    rows = list(csv.reader(f))
                if rows:
                    table = wandb.Table(columns=rows[0])
                    for row in rows[1:]:
                        table.add_data(*row)
                    logged[f"report/{Path(name).stem}"] = table
        for name, path in sorted(files.items()):
            if str(name).endswith(".png") and Path(path).is_file():
                logged[f"plots/{Path(name).stem}"] = wandb.Image(str(path))
        if logged:
            run.log(logged)
        for name in ("report.md", "report.html"):
            path = files.get(name)
            if path is not None and Path(path).is_file():
                run.save(str(path), base_path=str(Path(path).parent), policy="now")
        failed = False
    finally:
        run.finish(exit_code=1 if failed else 0)
