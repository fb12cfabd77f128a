"""Solvers: what a job does with one sample, as a short sequence of steps over one conversation.

The conversation starts as the rendered prompt (evalsweep.task.prompts). `generate` sends it as it
is and appends the reply; `user_message` and `system_message` add a message filled from the
sample's fields and {output} (the previous reply); `assistant_prefill` starts the next reply, which
is then recorded as the prefill + the model's continuation. A step of your own is an async function
named by dotted path (`solver.steps: [{type: mylab.solvers:my_step}]`), found without editing this
package:

    async def my_step(state: SolverState, generate: Generate) -> None:
        if "?" in (state.output or ""):
            await generate(state)

SOLVERS holds the built-in step types. Solver.from_config looks every step up and checks what needs
no sample; Solver.check fills every template for one sample: both before any request. Sending is not
done here: the job's runner passes a Conversation whose `send` asks its ModelService."""

from __future__ import annotations

import inspect
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from evalsweep.config.task import SolverConfig, StepConfig
from evalsweep.errors import ConfigError
from evalsweep.llm.types import GenerateResponse, Message, Role
from evalsweep.registry import Registry
from evalsweep.task import prompts
from evalsweep.task.data import Sample

if TYPE_CHECKING:
    from evalsweep.structured.ask import Structured

OUTPUT = "output"  # the placeholder of the previous reply


@dataclass(frozen=True)
class Turn:
    """One generate: the reply as recorded (a prefill + the continuation), what came back, and the
    typed answer when this generate asked for one (structured.response_model)."""

    text: str
    response: GenerateResponse
    typed: Structured[Any] | None = None


@dataclass
class SolverState:
    """One sample's conversation as the steps go: `messages` is what the next generate sends,
    `turns` every reply so far, `sent` what the last request sent."""

    sample: Sample
    messages: list[Message]
    seed: int | None = None
    repeat: int = 0
    turns: list[Turn] = field(default_factory=list)
    sent: list[Message] | None = None

    @property
    def output(self) -> str | None:
        """The last reply, None before the first."""
        return self.turns[-1].text if self.turns else None

    @property
    def outputs(self) -> list[str]:
        """Every reply, in order (what a scorer of the whole conversation reads)."""
        return [t.text for t in self.turns]

    def fields(self) -> dict[str, Any]:
        """What a step's template is filled from: the prompt's fields and {output}."""
        return {**prompts.template_fields(self.sample), OUTPUT: self.output}


class Generate(Protocol):
    """Send the conversation as it is, append the reply to it, return the reply's text.
    structured=True: ask for the job's typed answer (structured.response_model), if it has one."""

    async def __call__(self, state: SolverState, *, structured: bool = False) -> str: ...


Step = Callable[[SolverState, Generate], Awaitable[None]]


class StepFactory(Protocol):
    """A registry entry that makes a step from its config (the built-ins take a template or text)."""

    def make(self, step: StepConfig, where: str) -> Step: ...


@dataclass(frozen=True)
class Reply:
    response: GenerateResponse
    typed: Structured[Any] | None = None


Send = Callable[[list[Message], bool], Awaitable[Reply]]


class Conversation:
    """The `generate` a job's steps get: `send` asks the model (the runner's ModelService: cache,
    retries, limits); the reply is added to the conversation and to its turns. A conversation that
    ends in an assistant message is continued: that message is a prefill, and the reply recorded
    is the prefill + what the model sent."""

    def __init__(self, send: Send) -> None:
        self._send = send

    async def __call__(self, state: SolverState, *, structured: bool = False) -> str:
        asked = list(state.messages)
        state.sent = asked
        reply = await self._send(asked, structured)
        prefill = asked[-1].content if asked and asked[-1].role == "assistant" else None
        text = reply.response.text if prefill is None else prefill + reply.response.text
        head = asked if prefill is None else asked[:-1]
        state.messages = [*head, Message(role="assistant", content=text)]
        state.turns.append(Turn(text=text, response=reply.response, typed=reply.typed))
        return text


# --- the built-in steps -----------------------------------------------------------------------------------


class GenerateStep:
    def __init__(self) -> None:
        self.structured = False  # set on the solver's last generate: typed answers apply to it

    async def __call__(self, state: SolverState, generate: Generate) -> None:
        await generate(state, structured=self.structured)


class MessageStep:
    """Adds one message and asks nothing, so the steps before the first generate can be applied
    without a request (the cache look-ahead of evalsweep.job.prefetch)."""

    def __init__(self, role: Role, text: str, where: str, *, template: bool) -> None:
        self.role = role
        self.text = text
        self.where = where
        self.template = template
        self.placeholders = _placeholders(text, where) if template else set()

    def content(self, state: SolverState) -> str:
        return self.text.format_map(state.fields()) if self.template else self.text

    def apply(self, state: SolverState) -> None:
        message = Message(role=self.role, content=self.content(state))
        if self.role == "system":  # after the prompt's own system message, before the conversation
            n = next((i for i, m in enumerate(state.messages) if m.role != "system"), len(state.messages))
            state.messages.insert(n, message)
        else:
            state.messages.append(message)

    async def __call__(self, state: SolverState, generate: Generate) -> None:
        self.apply(state)


@dataclass(frozen=True)
class _Builtin:
    make_step: Callable[[StepConfig, str], Step]

    def make(self, step: StepConfig, where: str) -> Step:
        return self.make_step(step, where)


SOLVERS: Registry[StepFactory | Step] = Registry("solver", option="solver.steps.type")
SOLVERS.register("generate")(_Builtin(lambda step, where: GenerateStep()))
SOLVERS.register("user_message")(
    _Builtin(lambda step, where: MessageStep("user", step.template or "", where, template=True)))
SOLVERS.register("system_message")(
    _Builtin(lambda step, where: MessageStep("system", step.template or "", where, template=True)))
SOLVERS.register("assistant_prefill")(
    _Builtin(lambda step, where: MessageStep("assistant", step.text or "", where, template=False)))


def _placeholders(template: str, where: str) -> set[str]:
    """Its field names; a template str.format cannot fill at all is a config error."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc} in its template; {prompts.BRACES}") from None
    if any(not name.strip() or name.isdigit() for name in names):
        raise ConfigError(f"{where}: a placeholder without a name ({{}} or {{0}}) in its template; name a "
                          f"field, e.g. {{input}} or {{output}}, or {prompts.BRACES}")
    return names


def _make(step: StepConfig, where: str) -> Step:
    entry = SOLVERS.get(step.type)  # ConfigError for an unknown name or a path that does not import
    if hasattr(entry, "make"):
        return entry.make(step, where)  # type: ignore[union-attr]
    if not inspect.iscoroutinefunction(entry):
        raise ConfigError(f"{where}: {step.type} is not an async function; a step of your own is "
                          f"`async def step(state, generate) -> None`")
    return entry  # type: ignore[return-value]


class Solver:
    """A job's steps, looked up and checked, run over each sample's conversation."""

    def __init__(self, config: SolverConfig, steps: list[Step]) -> None:
        self.config = config
        self.steps = steps
        generates = [s for s in steps if isinstance(s, GenerateStep)]
        if generates:
            generates[-1].structured = True
        own = any(not isinstance(s, (GenerateStep, MessageStep)) for s in steps)
        # One reply at most by construction: the row's output says it all, and `turns` stays null.
        self.records_turns = own or len(generates) > 1
        first = next((s for s in steps if not isinstance(s, MessageStep)), None)
        # The first request is the typed ask when the first step that asks is the last generate.
        self.opens_structured = isinstance(first, GenerateStep) and first.structured

    @classmethod
    def from_config(cls, config: SolverConfig) -> Solver:
        """Every step looked up, and the checks that need no sample: a step of your own counts as one
        that may ask (it gets `generate`)."""
        label = f"solver '{config.name}'"
        steps: list[Step] = []
        asks = False
        for i, step_cfg in enumerate(config.steps):
            where = f"{label}: solver.steps[{i}] ({step_cfg.type})"
            step = _make(step_cfg, where)
            if isinstance(step, MessageStep) and OUTPUT in step.placeholders and not asks:
                raise ConfigError(f"{where}: {{{OUTPUT}}} is the previous reply, and no generate step comes "
                                  f"before this one; put a generate step first, or remove {{{OUTPUT}}}")
            asks = asks or not isinstance(step, MessageStep)
            steps.append(step)
        if not asks:
            raise ConfigError(f"{label}: no generate step in solver.steps, so nothing would be asked; add "
                              f"{{type: generate}}")
        last_ask = max(i for i, s in enumerate(steps) if not isinstance(s, MessageStep))
        if last_ask < len(steps) - 1:
            i = last_ask + 1
            raise ConfigError(f"{label}: solver.steps[{i}] ({config.steps[i].type}) comes after the last generate "
                              f"step, so it would never be sent; end the steps with {{type: generate}}")
        return cls(config, steps)

    @property
    def is_default(self) -> bool:
        return self.config.is_default

    def check(self, sample: Sample) -> None:
        """Every template filled for this sample (a field it lacks is a config error, before any
        request); {output} is checked against a reply-shaped stand-in."""
        fields = {**prompts.template_fields(sample), OUTPUT: ""}
        for step in self.steps:
            if not isinstance(step, MessageStep) or not step.template:
                continue
            unknown = step.placeholders - set(fields)
            if unknown:
                name = sorted(unknown)[0]
                raise ConfigError(f"{step.where}: unknown placeholder {{{name}}} in its template (sample "
                                  f"{sample.id!r}); available: {', '.join('{' + k + '}' for k in sorted(fields))}")
            try:
                step.text.format_map(fields)
            except (ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
                raise ConfigError(f"{step.where}: its template cannot be filled for sample {sample.id!r} "
                                  f"({type(exc).__name__}: {exc}); fix that placeholder, or {prompts.BRACES}") from None

    def opening(self, state: SolverState) -> list[Message]:
        """What the first generate will send: the steps before it applied (they ask nothing). A step of
        your own before it stops here: what it does is known only when it runs."""
        for step in self.steps:
            if not isinstance(step, MessageStep):
                break
            step.apply(state)
        return state.messages

    async def run(self, state: SolverState, generate: Generate) -> None:
        for step in self.steps:
            await step(state, generate)
