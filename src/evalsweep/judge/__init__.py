"""Model-graded scoring: a judge model grades outputs against a rubric (scorer=judge inline, or
scripts/classify.py over finished runs). See docs/judge.md. Kept import-light on purpose."""
