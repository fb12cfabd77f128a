"""The validated experiment config, one module per part of it:

- base: Strict (extra="forbid") and PROJECT_ROOT, which relative paths are taken from.
- model: the model (ModelConfig), its retries, price, simulator settings and shared limits.
- dataset: the dataset (DatasetConfig), its field mapping and provenance, content_version.
- task: the prompt template, the scorer (judge settings included) and typed answers.
- run: the response cache, the wandb tracker and the run section.
- schema: ExperimentConfig (all of the above), the spec, and validate() for the composed config.
- generate: the generation parameters, declared once (GenerateConfig).
- key_shapes: which environment variables may hold keys, and what looks like a key."""
