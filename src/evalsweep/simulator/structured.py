"""Structured answers for the simulator: fill a JSON schema with the simulated answer, and spoil
an object on purpose so that clients' validation and re-ask paths can be exercised.

Properties are filled by name where the name says what it holds (an "answer" gets the computed,
possibly wrong answer, a "reasoning" the working, a "confidence" a number, a "grade" the judge's
verdict) and otherwise by type (strings, numbers, booleans, enums, arrays, nested objects,
$ref/$defs, anyOf), so any reasonable response model gets a valid object back.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

# A re-ask shows the model the validation error; a real model would then read these words.
REASK_PATTERN = re.compile(r"validation error", re.IGNORECASE)
# The JSON-from-text fallback names the schema in the prompt: "... this JSON schema: {...}".
_TEXT_SCHEMA = re.compile(r"JSON schema\b[^{]{0,80}", re.IGNORECASE)

_ANSWER_NAMES = {"answer", "final_answer", "result", "value", "label", "choice", "prediction", "output"}
_REASON_NAMES = {"reasoning", "explanation", "rationale", "justification", "reason", "reasons", "thoughts",
                 "working", "analysis", "steps", "critique", "comment", "feedback"}
_CONFIDENCE_NAMES = {"confidence", "probability", "certainty", "likelihood", "p_correct"}
_GRADE_NAMES = {"grade", "verdict", "judgement", "judgment", "rating", "assessment", "classification", "decision"}
_CORRECT_NAMES = {"correct", "is_correct", "passed", "pass", "accurate", "matches", "is_match", "agrees"}
_SCORE_NAMES = {"score", "points"}
_POSITIVE = ("c", "correct", "yes", "y", "pass", "passed", "true", "1", "right", "accurate", "match", "agree", "good")
_NEGATIVE = ("i", "incorrect", "no", "n", "fail", "failed", "false", "0", "wrong", "inaccurate", "mismatch",
             "disagree", "bad")


@dataclass(frozen=True)
class FillContext:
    """What the simulated model "thinks": its answer, its working, and, as a judge, its verdict."""

    answer: str
    reasoning: str
    confidence: float
    # As a judge: True when it grades the response correct; None when it is not judging.
    verdict: bool | None = None


@dataclass(frozen=True)
class StructuredAsk:
    """A request for a structured answer, whatever the wire format asked for it."""

    name: str
    schema: dict[str, Any]
    # openai_json_schema | anthropic_tool | anthropic_output_format | json_object | text
    wire: str


def schema_from_text(text: str) -> dict[str, Any] | None:
    """The JSON schema a prompt quotes after the words "JSON schema", if any."""
    for match in _TEXT_SCHEMA.finditer(text):
        start = match.end()
        if start < len(text) and text[start] == "{":
            try:
                obj, _ = json.JSONDecoder().raw_decode(text, start)
            except ValueError:
                continue
            if isinstance(obj, dict):
                return obj
    return None


def classify_polarity(value: Any) -> bool | None:
    """True for values that mean "correct / yes / pass", False for their opposites, else None."""
    text = str(value).strip().lower()
    if text in _POSITIVE:
        return True
    if text in _NEGATIVE:
        return False
    return None


def pick_verdict(options: list[Any], verdict: bool) -> Any:
    """The option meaning `verdict`: by its word (C/I, yes/no, pass/fail, ...), else the first
    option for "correct" and the last for "incorrect"."""
    for opt in options:
        if classify_polarity(opt) is verdict:
            return opt
    return options[0] if verdict else options[-1]


def _norm(name: str | None) -> str:
    return (name or "").strip().lower()


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema and seen < 32:
        ref = schema["$ref"]
        node: Any = root
        if isinstance(ref, str) and ref.startswith("#/"):
            for part in ref[2:].split("/"):
                node = node.get(part, {}) if isinstance(node, dict) else {}
        schema = node if isinstance(node, dict) else {}
        seen += 1
    return schema


def _branch(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Pick one branch of anyOf/oneOf/allOf (the first that is not null)."""
    schema = _resolve(schema, root)
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            resolved = [_resolve(o, root) for o in options if isinstance(o, dict)]
            non_null = [o for o in resolved if o.get("type") != "null"]
            return _branch((non_null or resolved)[0], root)
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        return _branch({**_resolve(all_of[0], root), **merged}, root)
    return schema


def _type_of(schema: dict[str, Any]) -> str | None:
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), None)
    if t is None and "properties" in schema:
        t = "object"
    return t


def _number_in(schema: dict[str, Any], want: float, integer: bool) -> float | int:
    lo = schema.get("minimum", schema.get("exclusiveMinimum"))
    hi = schema.get("maximum", schema.get("exclusiveMaximum"))
    if isinstance(lo, (int, float)) and want < lo:
        want = lo + (1 if "exclusiveMinimum" in schema and "minimum" not in schema else 0)
    if isinstance(hi, (int, float)) and want > hi:
        want = hi - (1 if "exclusiveMaximum" in schema and "maximum" not in schema else 0)
    return int(round(want)) if integer else float(want)


def _as_number(text: str) -> float | None:
    found = re.findall(r"-?\d+(?:\.\d+)?", text)
    return float(found[-1]) if found else None


def fill(schema: dict[str, Any], ctx: FillContext, root: dict[str, Any] | None = None,
         name: str | None = None, depth: int = 0) -> Any:
    """A value valid under `schema` that says what `ctx` says, where names tell the meaning."""
    root = schema if root is None else root
    schema = _branch(schema, root)
    key = _norm(name)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        if ctx.verdict is not None and (key in _GRADE_NAMES or key in _CORRECT_NAMES or len(enum) == 2):
            return pick_verdict(enum, ctx.verdict)
        for opt in enum:  # e.g. an answer letter among the options
            if str(opt).strip().lower() == ctx.answer.strip().lower():
                return opt
        return enum[0]
    kind = _type_of(schema)
    if kind == "object" or depth == 0 and kind is None:
        props = schema.get("properties") or {}
        if depth > 8:
            return {}
        return {p: fill(s, ctx, root, p, depth + 1) for p, s in props.items() if isinstance(s, dict)}
    if kind == "array":
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        n = max(1, int(schema.get("minItems", 1) or 1))
        if isinstance(schema.get("maxItems"), int):
            n = min(n, schema["maxItems"])
        return [fill(items, ctx, root, name, depth + 1) for _ in range(n)]
    if kind == "boolean":
        if key in _CORRECT_NAMES or key in _GRADE_NAMES:
            return bool(ctx.verdict) if ctx.verdict is not None else True
        return not key.startswith(("refus", "harm", "unsafe", "decline"))
    if kind in ("integer", "number"):
        integer = kind == "integer"
        if key in _CONFIDENCE_NAMES:
            want = ctx.confidence if not integer else round(ctx.confidence * 100)
        elif (key in _SCORE_NAMES or key in _GRADE_NAMES) and ctx.verdict is not None:
            want = 1.0 if ctx.verdict else 0.0
        elif key in _ANSWER_NAMES:
            want = _as_number(ctx.answer) or 0.0
        else:
            want = 0.0
        return _number_in(schema, want, integer)
    if kind == "null":
        return None
    # A string (or an untyped leaf): say the answer, the working, the verdict, or a placeholder.
    if key in _GRADE_NAMES and ctx.verdict is not None:
        text = "correct" if ctx.verdict else "incorrect"
    elif key in _ANSWER_NAMES:
        text = ctx.answer
    elif key in _REASON_NAMES:
        text = ctx.reasoning
    else:
        text = f"simulated {name or 'text'}"
    max_len = schema.get("maxLength")
    if isinstance(max_len, int):
        text = text[:max_len]
    min_len = schema.get("minLength")
    if isinstance(min_len, int) and len(text) < min_len:
        text = text + "." * (min_len - len(text))
    return text


_WRONG_TYPE: dict[str | None, Any] = {
    "string": 12345,
    "integer": "not a number",
    "number": "not a number",
    "boolean": "maybe",
    "array": "not a list",
    "object": "not an object",
}


def spoil(obj: Any, schema: dict[str, Any], draw: int) -> Any:
    """An invalid version of a valid object: a required field left out, or a field of the wrong
    type (which of the two, and which field, from `draw`)."""
    if not isinstance(obj, dict) or not obj:
        return {"unexpected": "the simulator spoiled this object"} if isinstance(obj, dict) else None
    root = schema
    schema = _branch(schema, root)
    required = [r for r in schema.get("required") or [] if r in obj]
    spoiled = dict(obj)
    if required and draw % 2 == 0:
        del spoiled[required[(draw >> 1) % len(required)]]
        return spoiled
    props = schema.get("properties") or {}
    names = list(obj)
    name = names[(draw >> 1) % len(names)]
    kind = _type_of(_branch(props.get(name, {}), root)) if isinstance(props.get(name), dict) else None
    spoiled[name] = _WRONG_TYPE.get(kind, {"not": "valid"})
    return spoiled


def invalid_draw(text: str, name: str, seed: int | None, temperature: float) -> tuple[float, int]:
    """(u in [0,1), an integer) deciding whether, and how, a first structured answer is spoiled."""
    key = f"structured\x00{name}\x00{text}" + (f"\x00seed={seed}" if temperature > 0 else "")
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64, int.from_bytes(digest[8:16], "big")


def confidence_for(correct: bool | None, pick: int) -> float:
    """A deterministic stated confidence, higher on average when the answer is right (so a
    calibration plot of simulated runs shows some signal)."""
    spread = (pick % 1000) / 1000.0
    if correct is None:
        return 0.5
    return round(0.75 + 0.24 * spread, 3) if correct else round(0.45 + 0.45 * spread, 3)
