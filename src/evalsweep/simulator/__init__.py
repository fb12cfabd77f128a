"""Local LLM simulator: an HTTP server speaking the OpenAI and Anthropic wire formats.

It answers arithmetic questions with a configurable, deterministic accuracy and can inject
faults (429/500/503/529, dropped connections, over-long prompts, bad keys). It is the offline
default model and the test double for the real provider clients.

Which file owns what:

- `config`: the settings (`SimulatorConfig`, `ModelProfile`, `FaultConfig`) and the fault kinds.
- `server`: the aiohttp app and its routes (`build_app`, /_sim/stats, /health), sockets, and
  `SimulatorServer`, the app on its own loop in a daemon thread.
- `handler`: `Simulator`, the one request path of both endpoints: checks, API key, the injected
  faults (errors, drops, malformed 200 replies), then the answer, plain or structured.
- `openai_wire`, `anthropic_wire`: each format's request parsing, structured-output options, reply
  and error bodies.
- `parsing`: the parsed request and the field checks shared by both formats.
- `replies`: HTTP replies shared by both formats (a JSON body, a chunked body).
- `counters`: `SimStats` and the counters and fault RNG behind it.
- `answers`, `judge`, `structured`: what the simulated model says (answers to questions, verdicts
  as a judge, objects for a schema).
- `local`: starting a simulator in-process for jobs whose model points at it.
- `__main__`: `python -m evalsweep.simulator`.
"""

from evalsweep.simulator.config import FaultConfig, ModelProfile, SimulatorConfig
from evalsweep.simulator.counters import SimStats
from evalsweep.simulator.server import SimulatorServer, build_app

__all__ = ["FaultConfig", "ModelProfile", "SimStats", "SimulatorConfig", "SimulatorServer", "build_app"]
