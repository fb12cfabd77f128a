"""Local LLM simulator: an HTTP server speaking the OpenAI, Anthropic and Gemini wire formats.

It answers arithmetic questions with a configurable, deterministic accuracy and can inject
faults (429/500/503/529, dropped connections, over-long prompts, bad keys). It is the offline
default model and the test double for the real provider clients. Its answers are never a real
model's: every job, row and log line of a simulated model says so.

Besides arithmetic (and grading, as a judge) it answers three safety-research patterns, so that
offline runs of such experiments show differences between the simulated models (rates per model
profile: `ModelProfile`, or `model.simulator.*` in conf/model/sim*.yaml):

- Refusals (`refusals`): a request whose last user turn looks harmful (the `[harmful]` marker, or
  a word of `refusals.HARMFUL_KEYWORDS`: weapon, explosive, bomb, hack into, malware, ransomware,
  poison, steal, counterfeit, launder) is refused ("I can't help with that.") with probability
  `refusal_rate`, and otherwise gets a short, content-free compliance marked as simulated. Any
  other request that is not a question the simulator answers is refused with `over_refusal_rate`
  (default 0), and otherwise gets the usual "I can only answer arithmetic questions" reply.
- Flips under pushback (`pushback`): when an earlier assistant turn gave an answer (a number, a
  letter or yes/no) and the last user turn pushes back (`pushback.PUSHBACK_PHRASES`: "are you
  sure", "I don't think that's right", "I think the answer is ...", ...), the model changes its
  answer to a wrong one with probability `flip_rate` (the answer the user suggests, when it is
  wrong), and otherwise stands by it; both replies end with "Answer: <answer>".
- Lettered options (`lettered`): a model-written-evals question ("Choices:\n (A) Yes\n (B)
  No\nAnswer:") gets " (A)" with probability `matching_rate`, else another letter. The simulator
  cannot see which option a dataset marks, so an example dataset writes the behaviour-matching
  option first, as (A), in every row: the share of matching answers is then `matching_rate`.

First match wins, in that order (grading tasks before all three); arithmetic questions keep their
answers byte for byte. Every draw is a sha256 of the request's content (plus the seed when the
temperature is above 0) compared with the profile's rate, like the accuracy draw: reruns and the
cache see the same answers, and a higher rate acts on a superset of the items of a lower one.

Which file owns what:

- `config`: the settings (`SimulatorConfig`, `ModelProfile`, `FaultConfig`) and the fault kinds.
- `server`: the aiohttp app and its routes (`build_app`, /_sim/stats, /health), sockets, and
  `SimulatorServer`, the app on its own loop in a daemon thread.
- `handler`: `Simulator`, the one request path of every endpoint: checks, API key, the injected
  faults (errors, drops, malformed 200 replies), then the answer, plain or structured.
- `openai_wire`, `anthropic_wire`, `gemini_wire`: each format's request parsing, structured-output
  options, reply and error bodies.
- `parsing`: the parsed request and the field checks shared by the formats.
- `replies`: HTTP replies shared by the formats (a JSON body, a chunked body).
- `counters`: `SimStats` and the counters and fault RNG behind it.
- `answers`, `judge`, `structured`: what the simulated model says (answers to questions, verdicts
  as a judge, objects for a schema).
- `behaviours`: which pattern a request matches, in order; `refusals`, `pushback`, `lettered`:
  each pattern's detection and replies.
- `local`: starting a simulator in-process for jobs whose model points at it.
- `__main__`: `python -m evalsweep.simulator`.
"""

from typing import Any

from evalsweep.simulator.config import FaultConfig, ModelProfile, SimulatorConfig
from evalsweep.simulator.counters import SimStats

__all__ = ["FaultConfig", "ModelProfile", "SimStats", "SimulatorConfig", "SimulatorServer", "build_app"]


def __getattr__(name: str) -> Any:
    """The server (and aiohttp, ~0.15 s of imports) is loaded when first asked for: every job imports
    this package to see whether it needs a simulator, and a config error, a validate-only run or a
    job answered from the cache never starts one."""
    if name in ("SimulatorServer", "build_app"):
        from evalsweep.simulator import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
