"""Local LLM simulator: an HTTP server speaking the OpenAI and Anthropic wire formats.

It answers arithmetic questions with a configurable, deterministic accuracy and can inject
faults (429/500/503/529, dropped connections, over-long prompts, bad keys). It is the offline
default model and the test double for the real provider clients.
"""

from evalsweep.simulator.config import FaultConfig, ModelProfile, SimulatorConfig
from evalsweep.simulator.server import SimStats, SimulatorServer, build_app

__all__ = ["FaultConfig", "ModelProfile", "SimStats", "SimulatorConfig", "SimulatorServer", "build_app"]
