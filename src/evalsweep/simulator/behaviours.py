"""What the simulated model says to a request that is not a grading task, pattern by pattern.

The order, first match wins: pushback on an earlier answer (`pushback`), a lettered question
(`lettered`), an arithmetic question (`answers`, unchanged by the other patterns), then a
harmful-looking or any other request (`refusals`).
"""

from __future__ import annotations

import evalsweep.simulator.lettered as lettered
import evalsweep.simulator.pushback as pushback
import evalsweep.simulator.refusals as refusals
from evalsweep.simulator.answers import Answer, answer, wants_cot
from evalsweep.simulator.config import ModelProfile
from evalsweep.simulator.parsing import ParsedRequest


def respond(p: ParsedRequest, profile: ModelProfile) -> Answer:
    seed, temperature = p.seed, p.temperature
    found = None if p.reask else pushback.find(p.turns)
    if found is not None:
        return pushback.reply(found, flip_rate=profile.flip_rate, seed=seed, temperature=temperature)
    options = lettered.options(p.question)
    if options is not None:
        return lettered.reply(p.question, list(options), matching_rate=profile.matching_rate, seed=seed,
                              temperature=temperature)
    cot = wants_cot(p.cot_texts)
    reply = answer(p.question, accuracy=profile.effective_accuracy(cot), cot=cot, seed=seed, temperature=temperature)
    if reply.correct is not None:
        return reply
    return refusals.reply(p.question, refusal_rate=profile.refusal_rate, over_refusal_rate=profile.over_refusal_rate,
                          seed=seed, temperature=temperature)
