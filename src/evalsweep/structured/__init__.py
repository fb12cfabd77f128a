"""Typed responses: ask a model for an object of a pydantic type and get that object back.

    verdict = await service.generate(request, response_model=Verdict)   # -> Verdict

The provider's own structured output is used where there is one (OpenAI's json_schema response
format, Anthropic tool use); `model.structured_output=json_text` falls back to asking for JSON in
the prompt and parsing it from the text. A reply that fails validation is asked again, with the
validation error shown, up to `model.structured_reasks` times. See docs/structured.md.
"""

from evalsweep.structured.ask import Structured, StructuredOutputError, StructuredStats, ask
from evalsweep.structured.schema import response_format_for

__all__ = ["Structured", "StructuredOutputError", "StructuredStats", "ask", "response_format_for"]
