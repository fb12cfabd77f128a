"""A job's work items (sample x repeat), rendered into messages only as they are iterated.

Holding every rendered item at once costs about a kilobyte per item (two Message models each):
hundreds of MB on a 10^5-sample dataset, all of it waiting for its turn. Here an item exists from
the moment a worker takes it until its record is written, and memory stays flat in the job size."""

from __future__ import annotations

from collections.abc import Container, Iterator, Mapping, Sequence

from evalsweep.task import prompts
from evalsweep.config.task import PromptConfig
from evalsweep.task.data import Sample, Samples
from evalsweep.task.solvers import Solver, SolverState
from evalsweep.job.runner import WorkItem
from evalsweep.llm.types import Message

Identity = tuple[str, int, int]  # (sample id, seed, repeat), as ResultRecord.identity


def _ids(samples: Sequence[Sample]) -> Iterator[str]:
    return samples.ids() if isinstance(samples, Samples) else (s.id for s in samples)


class JobWork:
    """Every (sample, repeat) of one job and seed, in order, minus the identities in `skip`
    (those done by an earlier attempt: resume). Iterable any number of times; len() is exact."""

    def __init__(self, samples: Sequence[Sample], prompt: PromptConfig, repeats: int, seed: int,
                 skip: Container[Identity] | Mapping[Identity, object] = frozenset(),
                 solver: Solver | None = None) -> None:
        self.samples = samples
        self.prompt = prompt
        self.solver = solver  # None: the default, one generate of the rendered prompt
        self.repeats = repeats
        self.seed = seed
        self._skip = skip
        self._id_set: set[str] | None = None  # built on the first `in` test only (resume)
        if not skip:
            self._len = len(samples) * repeats
        else:
            self._len = sum(1 for sid in _ids(samples) for r in range(repeats) if (sid, seed, r) not in skip)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[WorkItem]:
        for sample in self.samples:
            for r in range(self.repeats):
                if (sample.id, self.seed, r) not in self._skip:
                    yield WorkItem(sample, r, prompts.render(self.prompt, sample))

    def __contains__(self, ident: object) -> bool:
        """Whether an identity is this job's work (done or not): a record of another dataset
        subset or repeat count in the results file is not."""
        if not (isinstance(ident, tuple) and len(ident) == 3):
            return False
        sample_id, seed, repeat = ident
        if self._id_set is None:
            self._id_set = set(_ids(self.samples))
        return seed == self.seed and isinstance(repeat, int) and 0 <= repeat < self.repeats and sample_id in self._id_set

    def without(self, done: Container[Identity] | Mapping[Identity, object]) -> JobWork:
        """The same work minus what is in `done`."""
        return JobWork(self.samples, self.prompt, self.repeats, self.seed, skip=done, solver=self.solver)

    def asked_as(self, sample: Sample, messages: Sequence[Message]) -> bool:
        """Whether a row's messages are what this job asks of the sample (resume): the rendered
        prompt, or with a solver a conversation that holds its first request in order (the later
        steps only add to it; a prefill is held as the start of the reply it began)."""
        rendered = prompts.render(self.prompt, sample)
        if self.solver is None or self.solver.is_default:
            return list(messages) == rendered
        later = iter(messages)
        return all(any(m.role == want.role and (m.content == want.content or want.role == "assistant"
                                                and m.content.startswith(want.content)) for m in later)
                   for want in self.solver.opening(SolverState(sample, rendered)))
