"""Typed answers of the model under test in a job (structured.response_model): ask for the
object, keep it on the row, and pick what the scorer reads."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from evalsweep.config.schema import ExperimentConfig
from evalsweep.errors import ConfigError
from evalsweep.llm.types import GenerateRequest
from evalsweep.results.rows import StructuredInfo
from evalsweep.structured.ask import Mode, Structured, _Service, ask, first_ask
from evalsweep.structured.load import import_model

log = logging.getLogger(__name__)


@dataclass
class StructuredAnswers:
    response_model: type[BaseModel]
    score_field: str | None
    mode: Mode
    max_reasks: int

    @classmethod
    def from_config(cls, exp: ExperimentConfig, quiet: bool = False) -> StructuredAnswers | None:
        """None when the job asks for plain text. Import and field errors stop the job before any call."""
        path = exp.structured.response_model
        if path is None:
            if exp.structured.score_field is not None:
                raise ConfigError("structured.score_field is set but structured.response_model is null; "
                                  "set both, or neither")
            return None
        model = import_model(path)
        field_name = exp.structured.score_field
        if field_name is not None and field_name not in model.model_fields:
            raise ConfigError(f"structured.score_field={field_name}: {model.__name__} has no such field; "
                              f"its fields: {', '.join(model.model_fields)}")
        if field_name is None and exp.scorer_type != "judge" and not quiet:
            log.warning("structured.score_field is null: the %s scorer reads the raw JSON reply; set it to the "
                        "field holding the answer (one of %s)", exp.scorer_type, ", ".join(model.model_fields))
        return cls(model, field_name, exp.model.structured_output, exp.model.structured_reasks)

    def first_request(self, request: GenerateRequest) -> GenerateRequest:
        """What the first ask sends (so a job can look it up in the cache up front)."""
        return first_ask(request, self.response_model, self.mode)

    async def ask(self, service: _Service, request: GenerateRequest) -> Structured[Any]:
        return await ask(service, request, self.response_model, mode=self.mode, max_reasks=self.max_reasks)

    def scored_text(self, result: Structured[Any]) -> str | None:
        """What the scorer reads: the chosen field of a valid object (None when the object never
        validated), or the raw reply when no field is chosen."""
        if self.score_field is None:
            return result.raw
        if result.value is None:
            return None
        value = getattr(result.value, self.score_field)
        return value if isinstance(value, str) else str(value)

    @staticmethod
    def parsed(result: Structured[Any]) -> dict[str, Any] | None:
        return result.value.model_dump(mode="json") if result.value is not None else None

    @staticmethod
    def info(result: Structured[Any]) -> StructuredInfo:
        return StructuredInfo(model=result.model, asks=result.asks, valid=result.ok, error=result.error)
