"""The Gemini API's generateContent wire format (POST /v1beta/models/{model}:generateContent, key in
x-goog-api-key): request parsing, the JSON response mode, reply and error bodies.

The model is named by the URL, not the body. Field names are read in lowerCamelCase and in
snake_case, as the API's JSON parser takes both (the SDK sends thinkingConfig's in snake_case)."""

from __future__ import annotations

from typing import Any

import evalsweep.simulator.structured as structured
from evalsweep.simulator.answers import ReplyTokens
from evalsweep.simulator.parsing import BadRequest, ParsedRequest, float_field, opt_int, schema_object, stop_list

KEY_HEADER = "x-goog-api-key"
JSON_MIME = "application/json"

# google.rpc status names of the statuses the simulator sends (529, Anthropic's, as UNAVAILABLE).
GEMINI_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    529: "UNAVAILABLE",
}
BAD_KEY_MESSAGE = "API key not valid. Please pass a valid API key. (evalsweep simulator)"
_TYPE = "type.googleapis.com/google.rpc."


def gemini_error(status: int, message: str, *, retry_after_s: float | None = None,
                 reason: str | None = None) -> dict[str, Any]:
    """The API's error body; a 429's wait is a RetryInfo detail, a wrong key's an ErrorInfo."""
    error: dict[str, Any] = {"code": status, "message": message, "status": GEMINI_STATUS[status]}
    details: list[dict[str, Any]] = []
    if reason is not None:
        details.append({"@type": f"{_TYPE}ErrorInfo", "reason": reason, "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"}})
    if retry_after_s is not None:
        details.append({"@type": f"{_TYPE}RetryInfo", "retryDelay": f"{retry_after_s:g}s"})
    if details:
        error["details"] = details
    return {"error": error}


# Gemini's implicit caching (gemini-2.5-flash): prompts from 1,024 tokens on.
CACHE_MIN_TOKENS = 1024


def gemini_payload(model: str, request_id: str, text: str, finish_reason: str, tokens: ReplyTokens,
                   logprobs_result: dict[str, Any] | None = None) -> dict[str, Any]:
    """A generateContent reply; a thinking model's tokens in thoughtsTokenCount, apart from the answer's;
    the prompt's cached tokens in cachedContentTokenCount, inside promptTokenCount; the tokens'
    logprobs (logprobsResult) when asked for."""
    usage: dict[str, Any] = {"promptTokenCount": tokens.input, "candidatesTokenCount": tokens.output,
                             "totalTokenCount": tokens.input + tokens.output + tokens.thinking}
    if tokens.thinking:
        usage["thoughtsTokenCount"] = tokens.thinking
    if tokens.cached:
        usage["cachedContentTokenCount"] = min(tokens.cached, tokens.input)
    candidate: dict[str, Any] = {
        "content": {"role": "model", "parts": [{"text": text}]},
        "finishReason": finish_reason,
        "index": 0,
    }
    if logprobs_result is not None:
        candidate["logprobsResult"] = logprobs_result
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": request_id,
    }


def _camel_keys(obj: dict[str, Any]) -> dict[str, Any]:
    """The object's keys in lowerCamelCase (system_instruction -> systemInstruction)."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        head, *rest = key.split("_")
        out.setdefault(head + "".join(w[:1].upper() + w[1:] for w in rest), value)
    return out


def _text_of(content: Any, where: str) -> str:
    """The text parts of a Content ({role, parts: [{text}, ...]}), joined."""
    if not isinstance(content, dict):
        raise BadRequest(f"{where}: a Content object is required.")
    parts = content.get("parts")
    if not isinstance(parts, list):
        raise BadRequest(f"{where}.parts: a list of parts is required.")
    texts = []
    for i, part in enumerate(parts):
        if not isinstance(part, dict):
            raise BadRequest(f"{where}.parts[{i}]: must be an object.")
        text = part.get("text")
        if text is not None and not isinstance(text, str):
            raise BadRequest(f"{where}.parts[{i}].text: must be a string.")
        if text is not None and not part.get("thought"):
            texts.append(text)
    return "".join(texts)


def parse_gemini(body: dict[str, Any]) -> ParsedRequest:
    body = _camel_keys(body)
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise BadRequest("* GenerateContentRequest.contents: contents is not specified")
    turns: list[tuple[str, str]] = []
    for i, content in enumerate(contents):
        role = content.get("role", "user") if isinstance(content, dict) else None
        if role not in ("user", "model"):
            raise BadRequest(f"contents[{i}].role: must be 'user' or 'model'.")
        turns.append(("assistant" if role == "model" else "user", _text_of(content, f"contents[{i}]")))
    instruction = body.get("systemInstruction")
    system = [s for s in [_text_of(instruction, "systemInstruction")] if s] if instruction is not None else []
    config = body.get("generationConfig") or {}
    if not isinstance(config, dict):
        raise BadRequest("generationConfig: must be an object.")
    config = _camel_keys(config)
    return ParsedRequest(
        system=system,
        turns=turns,
        seed=opt_int(config.get("seed"), "generationConfig.seed"),
        temperature=float_field(config, "temperature", 1.0),
        max_tokens=opt_int(config.get("maxOutputTokens"), "generationConfig.maxOutputTokens", 1),
        stop=stop_list(config.get("stopSequences"), "generationConfig.stopSequences"),
        structured_ask=gemini_structured(config, system + [t for _, t in turns]),
        # responseLogprobs, and logprobs: the number of top alternatives at each step.
        logprobs=(opt_int(config.get("logprobs"), "generationConfig.logprobs", 0) or 0)
        if config.get("responseLogprobs") else None,
    )


def gemini_structured(config: dict[str, Any], texts: list[str]) -> structured.StructuredAsk | None:
    """JSON mode (generationConfig.responseMimeType application/json; config's keys in camelCase)
    with a JSON Schema (responseJsonSchema), an OpenAPI-style Schema (responseSchema, types in
    capitals), or no schema at all."""
    mime = config.get("responseMimeType")
    json_schema = config.get("responseJsonSchema")
    openapi_schema = config.get("responseSchema")
    if json_schema is not None and openapi_schema is not None:
        raise BadRequest("responseSchema and responseJsonSchema cannot both be set.")
    if (json_schema is not None or openapi_schema is not None) and mime != JSON_MIME:
        raise BadRequest("responseMimeType must be application/json when a response schema is set.")
    if mime != JSON_MIME:
        return None
    if json_schema is not None:
        schema = schema_object(json_schema, "generationConfig.responseJsonSchema")
        return structured.StructuredAsk(str(schema.get("title") or "response"), schema, "gemini_json_schema")
    if openapi_schema is not None:
        schema = _lower_types(schema_object(openapi_schema, "generationConfig.responseSchema"))
        return structured.StructuredAsk(str(schema.get("title") or "response"), schema, "gemini_response_schema")
    schema = next((sc for t in texts if (sc := structured.schema_from_text(t)) is not None), None)
    return structured.StructuredAsk("json", schema or {"type": "object", "properties": {"answer": {"type": "string"}}},
                                    "gemini_json")


def _lower_types(node: Any) -> Any:
    """An OpenAPI-style Schema ("type": "OBJECT") as the JSON Schema the filler reads ("object")."""
    if isinstance(node, list):
        return [_lower_types(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _lower_types(v) for k, v in node.items()}
    if isinstance(out.get("type"), str):
        out["type"] = out["type"].lower()
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out
