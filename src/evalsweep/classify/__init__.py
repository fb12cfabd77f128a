"""The classify stage: grade the rows of finished runs with a classifier model and write the grades
beside them (results.<name>.jsonl), never touching results.jsonl. See docs/judge.md."""
