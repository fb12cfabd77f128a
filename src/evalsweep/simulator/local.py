"""A simulator for one simulated model that has no base_url: started on a free loopback port,
stopped by the caller's ExitStack (used for judges and classifiers, which are models of their own)."""

from __future__ import annotations

import logging
from contextlib import ExitStack

from evalsweep.config.model import ModelConfig

log = logging.getLogger(__name__)


_KEPT: dict[str, str] = {}  # simulators kept for the process (keep=True), by their config


def start_for(model: ModelConfig, stack: ExitStack, keep: bool = False) -> str | None:
    """The base URL to use for `model`: its own, or that of a simulator started for it. keep: the
    simulator outlives the job, until the process ends (run.mode=batch: a sweep's end collects the
    batches its jobs submitted), and a later job of the same model uses it again."""
    if not model.simulated or model.base_url:
        return model.base_url
    from evalsweep.simulator import FaultConfig, ModelProfile, SimulatorConfig, SimulatorServer

    s = model.simulator
    # Every answer-deciding setting the profile knows (accuracy, refusal_rate, ...), by name.
    profile = ModelProfile(**s.model_dump(include=set(ModelProfile.model_fields))) if s else None
    if model.reasoning:  # the model's own setting, not a simulator one
        profile = (profile or ModelProfile(accuracy=SimulatorConfig().default_accuracy)).model_copy(
            update={"reasoning": True})
    config = SimulatorConfig(
        profiles={model.name: profile} if profile else {},
        latency_ms=s.latency_ms if s else 0.0,
        latency_jitter_ms=s.latency_jitter_ms if s else 0.0,
        faults=FaultConfig(**(s.faults if s else {})),
    )
    key = config.model_dump_json()
    if keep and key in _KEPT:
        return _KEPT[key]
    server = SimulatorServer(config)
    url = server.start()
    if keep:
        _KEPT[key] = url  # its thread is a daemon: it ends with the process
    else:
        stack.callback(server.stop)
    log.info("started the evalsweep simulator (not a real model) for %s at %s", model.name, url)
    return url
