"""One job, end to end, without Hydra: validation, the start checks and resume, the async runner,
the running metrics, interrupts, the dir lock and summary.json."""
