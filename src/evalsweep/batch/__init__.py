"""Batch mode (run.mode=batch, docs/batch.md): a job's requests sent through the provider's batch API
at its batch price, instead of one by one.

It owns what is particular to batches and nothing else: the request bodies as batch lines (`wire`),
the interface of a provider's batch endpoints (`common`), the OpenAI and Anthropic ones (`backends`)
and Gemini's (`gemini_backend`), the batches a job submitted, kept in its dir
the moment each is created (`state`), the rounds that gather the requests every sample is waiting
on into batches and hand each sample its answer (`rounds`), the job's run in batch mode (`run`),
the checks before a batch job starts (`check`), `evalsweep batch status|cancel` (`cli`) and a
sweep's one wait for all its jobs' batches (`sweep`).

Everything else is the live path's: requests are built by the job's runner, answers go through the
model service (cache), the solver, the scorer, results.jsonl and the tracker unchanged; the batch
client is only the service's provider client.
"""
