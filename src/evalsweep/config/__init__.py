"""The validated experiment config: its pydantic schema, the generation parameters (declared once)
and which environment variables may hold keys."""
