"""What a job asks and how it is scored: datasets, prompt templates, scorers, the items' fingerprint."""
