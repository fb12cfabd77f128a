"""Hydra's config-choosing flags of this run (--config-dir, --config-path, --config-name): the
reproducibility record's rerun command needs them as much as the overrides (evalsweep.results.record)."""

from __future__ import annotations

import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig

from evalsweep.config.base import PROJECT_ROOT

# Short and long spellings -> the long one (--config-dir is made absolute).
_CONFIG_FLAGS = {"--config-dir": "--config-dir", "-cd": "--config-dir", "--config-path": "--config-path",
                 "-cp": "--config-path", "--config-name": "--config-name", "-cn": "--config-name"}


def config_flags(argv: list[str] | None = None, cwd: Path | None = None) -> list[str]:
    """Hydra's config-choosing flags of this run (--config-dir, --config-path, --config-name),
    which a rerun needs as much as the overrides. Taken from Hydra's own runtime config when a job
    runs (right also in a launcher's worker, whose argv is not the user's), else from argv.
    --config-dir is made absolute: Hydra reads it from the cwd, and the rerun runs from the record's."""
    if HydraConfig.initialized():
        hc = HydraConfig.get()
        flags: list[str] = []
        for src in hc.runtime.config_sources:
            if src.provider == "command-line" and src.schema == "file":
                flags += ["--config-dir", str(Path(src.path).resolve())]
        main = next((s for s in hc.runtime.config_sources if s.provider == "main"), None)
        if main is not None and main.schema == "file" and Path(main.path).resolve() != (PROJECT_ROOT / "conf").resolve():
            flags += ["--config-path", str(Path(main.path).resolve())]
        if hc.job.config_name and hc.job.config_name != "config":
            flags += ["--config-name", str(hc.job.config_name)]
        return flags
    args = list(sys.argv[1:] if argv is None else argv)
    here = Path.cwd() if cwd is None else cwd
    flags = []
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if name in _CONFIG_FLAGS:
            if not eq:
                if i + 1 >= len(args):
                    break
                i += 1
                value = args[i]
            flag = _CONFIG_FLAGS[name]
            if flag == "--config-dir":
                value = str((here / Path(value).expanduser()).resolve())
            flags += [flag, value]
        i += 1
    return flags
