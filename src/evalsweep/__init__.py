"""evalsweep: a Hydra-configured sweep runner for LLM experiments."""
