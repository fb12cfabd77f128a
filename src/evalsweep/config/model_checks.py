"""Which settings a model's provider takes, checked when the config is read: a setting the API
refuses (top_p with Claude's thinking, a forced tool with thinking) or one a provider has no use
for (thinking on OpenAI) is one clear line before any request, not an error on every sample.
Also extra_body and extra_headers: no field evalsweep sets itself, no header that carries a key.

Called by ModelConfig's validator with the model config (duck-typed: this module imports no
config class, so the schema can import it)."""

from __future__ import annotations

import re
from typing import Any

from evalsweep.config.key_shapes import looks_like_key

# reasoning_effort's values each built-in provider takes (what its installed SDK declares).
EFFORTS: dict[str, tuple[str, ...]] = {
    "openai": ("none", "minimal", "low", "medium", "high", "xhigh", "max"),
    "anthropic": ("low", "medium", "high", "xhigh", "max"),  # output_config.effort
    "gemini": ("minimal", "low", "medium", "high"),  # thinkingConfig.thinkingLevel
}
BUILT_IN = tuple(EFFORTS)

# Body fields evalsweep sends from its own settings: set through those, so the cache key, the
# resume check and the labels see them.
RESERVED_BODY: dict[str, str] = {
    **dict.fromkeys(("model", "messages", "contents", "system", "system_instruction", "systemInstruction", "stream"),
                    "the job"),
    "max_tokens": "model.max_tokens", "max_completion_tokens": "model.max_tokens", "max_output_tokens":
    "model.max_tokens", "temperature": "model.temperature", "top_p": "model.top_p", "stop": "model.stop",
    "stop_sequences": "model.stop", "seed": "the job's seed", "reasoning_effort": "model.reasoning_effort",
    "thinking": "model.thinking", "output_config": "model.reasoning_effort or a typed answer",
    **dict.fromkeys(("response_format", "tools", "tool_choice"), "a typed answer (structured.*)"),
    "generationConfig": "the model.* generation settings (Gemini's generationConfig)",
}
# Header names that carry a credential (matched whole, or as a part of the name).
SECRET_HEADER = re.compile(r"(?i)^(authorization|proxy-authorization|cookie|x-api-key|api-key|x-goog-api-key)$"
                           r"|token|secret|passw|credential|auth|(?<![a-z])key(?![a-z])|api[-_]?key")
SECRET_FIELD = re.compile(r"(?i)token|secret|passw|credential|api[-_]?key")


def check(m: Any) -> None:
    """ValueError with one line naming the setting and the fix; nothing for a valid model."""
    built_in = m.provider in BUILT_IN
    _check_effort(m, built_in)
    _check_thinking(m, built_in)
    if m.prompt_cache and built_in and m.provider != "anthropic":
        raise ValueError(f"model.prompt_cache=true is Anthropic's cache_control; provider {m.provider} caches "
                         f"long prompts on its own: set model.prompt_cache=false")
    if m.structured_output == "tool" and built_in and m.provider != "anthropic":
        raise ValueError(f"model.structured_output=tool (a forced tool) is for provider anthropic; {m.provider} "
                         f"takes native or json_text")
    if m.extra_body:
        check_extra_body(m.extra_body)
    if m.extra_headers:
        check_extra_headers(m.extra_headers)


def _check_effort(m: Any, built_in: bool) -> None:
    effort = m.reasoning_effort
    if effort is None or not built_in or effort in EFFORTS[m.provider]:
        return
    raise ValueError(f"model.reasoning_effort={effort} is not one provider {m.provider} takes: "
                     f"{', '.join(EFFORTS[m.provider])}")


def _check_thinking(m: Any, built_in: bool) -> None:
    if m.thinking_budget is not None and m.thinking != "enabled":
        raise ValueError(f"model.thinking_budget={m.thinking_budget} is the budget of model.thinking=enabled "
                         f"(this model has thinking={m.thinking}): set both, or thinking_budget=null")
    if m.thinking is None:
        return
    if built_in and m.provider != "anthropic":
        raise ValueError(f"model.thinking is Anthropic's; provider {m.provider} does not take it: set "
                         f"model.thinking=null (model.reasoning_effort sets how hard {m.provider} models think)")
    if m.thinking == "enabled" and m.thinking_budget is None:
        raise ValueError("model.thinking=enabled needs model.thinking_budget (tokens, at least 1024 and below "
                         "max_tokens), or use model.thinking=adaptive")
    if m.thinking_budget is not None and m.thinking_budget >= m.max_tokens:
        raise ValueError(f"model.thinking_budget={m.thinking_budget} must be below model.max_tokens={m.max_tokens} "
                         f"(thinking counts against max_tokens): raise max_tokens or lower the budget")
    if m.thinking == "disabled":
        return
    # The API refuses these with thinking on; the installed SDK sends neither temperature nor top_p
    # to Claude, so the config says what it gets: temperature 1, top_p unset.
    if m.top_p is not None:
        raise ValueError(f"model.top_p={m.top_p}: Claude with thinking ({m.thinking}) does not take top_p: "
                         f"set model.top_p=null")
    if m.temperature != 1.0:
        raise ValueError(f"model.temperature={m.temperature:g}: Claude with thinking ({m.thinking}) samples at "
                         f"temperature 1 only: set model.temperature=1 (it is not sent)")
    if m.structured_output == "tool":
        raise ValueError(f"model.structured_output=tool: a forced tool cannot be combined with thinking "
                         f"({m.thinking}): use structured_output=native (output_config.format)")


def check_extra_body(body: dict[str, Any]) -> None:
    for name in body:
        if name in RESERVED_BODY:
            raise ValueError(f"model.extra_body.{name} is sent by evalsweep itself: set it through "
                             f"{RESERVED_BODY[name]} instead")
        if SECRET_FIELD.search(name):
            raise ValueError(f"model.extra_body.{name} looks like it carries a secret, which would be written "
                             f"into summary.json and the cache: put the key in the environment and name its "
                             f"variable in model.api_key_env")
    if looks_like_key(repr(body)):
        raise ValueError("model.extra_body holds something shaped like an API key (not shown): keys go in the "
                         "environment, named by model.api_key_env")


def check_extra_headers(headers: dict[str, str]) -> None:
    for name, value in headers.items():
        if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
            raise ValueError(f"model.extra_headers: {name!r} is not a valid HTTP header name")
        if SECRET_HEADER.search(name) or looks_like_key(value) or value.lower().startswith(("bearer ", "basic ")):
            raise ValueError(f"model.extra_headers.{name} looks like it carries a secret, which would be written "
                             f"into summary.json and the cache (value not shown): put the key in the environment "
                             f"and name its variable in model.api_key_env")
        if not (value.isascii() and value.isprintable()) or "\n" in value:
            raise ValueError(f"model.extra_headers.{name}: the value must be printable ASCII on one line")
