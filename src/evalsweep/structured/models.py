"""Response models shipped with evalsweep, usable as structured.response_model=evalsweep.structured.models.<Name>.
Write your own anywhere importable; any pydantic BaseModel works."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Answer(BaseModel):
    """A final answer, the reasoning behind it and a stated confidence."""

    reasoning: str = Field(description="the working, briefly")
    answer: str = Field(description="the final answer only: a number, or the letter of the chosen option")
    confidence: float = Field(ge=0, le=1, description="the probability that the answer is right")
