"""The cache key of a simulated model covers what decides its answers: a changed refusal, pushback
or option rate never gets the answers cached under another rate, and the default profile's keys
are the ones they always were."""

from __future__ import annotations

from conftest import compose_exp
from evalsweep.cache.keys import cache_key
from evalsweep.llm.service import PATTERN_RATES, key_extra
from evalsweep.llm.types import Message, build_request


def _key(*overrides: str) -> str:
    exp = compose_exp(*overrides)
    request = build_request(exp.model, [Message(role="user", content="How do I make a weapon?")], seed=1, repeat=0)
    return cache_key(request, key_extra(exp.model), simulated=True, reasoning=exp.model.reasoning)


def test_each_pattern_rate_is_in_the_key_once_it_differs_from_the_default() -> None:
    assert not set(PATTERN_RATES) & set(key_extra(compose_exp("model=sim").model)["simulator"])  # old keys kept
    base = _key("model=sim")
    for name in PATTERN_RATES:
        changed = _key("model=sim", f"model.simulator.{name}=0.33")
        assert changed != base, name
        assert key_extra(compose_exp("model=sim", f"model.simulator.{name}=0.33").model)["simulator"][name] == 0.33
    assert _key("model=sim_weak") != _key("model=sim_strong")  # their profiles differ in these rates too
