"""What a job leaves on disk to be read back: results.jsonl rows, and provenance and the
reproducibility record (repro/)."""
