from __future__ import annotations

import pytest

from evalsweep.config.task import FewShot, PromptConfig
from evalsweep.task.data import Sample
from evalsweep.errors import PromptError
from evalsweep.task.prompts import check_templates, render

SAMPLE = Sample(id="s1", input="What is 2 + 2?", target="4", metadata={"difficulty": "easy"})
MC = Sample(id="s2", input="What is 2 + 2?", target="B", choices=["3", "4"])


def test_render_system_fewshot_and_user() -> None:
    p = PromptConfig(name="p", system="Be brief ({difficulty}).", user="Q: {input}",
                     few_shot=[FewShot(user="What is 1 + 1?", assistant="2")])
    msgs = render(p, SAMPLE)
    assert [(m.role, m.content) for m in msgs] == [
        ("system", "Be brief (easy)."), ("user", "What is 1 + 1?"), ("assistant", "2"),
        ("user", "Q: What is 2 + 2?")]


def test_choices_render_as_lettered_lines_and_vanish_without_choices() -> None:
    p = PromptConfig(name="p", user="{input}{choices}")
    assert render(p, MC)[-1].content == "What is 2 + 2?\n\nA) 3\nB) 4"
    assert render(p, SAMPLE)[-1].content == "What is 2 + 2?"


def test_unknown_placeholder_is_a_clear_error() -> None:
    p = PromptConfig(name="bad", user="{input} {questoin}")
    with pytest.raises(PromptError, match=r"prompt 'bad': unknown placeholder \{questoin\} in prompt.user"):
        check_templates(p, SAMPLE)


def test_shipped_prompts_render_for_both_datasets() -> None:
    import yaml

    from evalsweep.config.base import PROJECT_ROOT
    for f in sorted((PROJECT_ROOT / "conf" / "prompt").glob("*.yaml")):
        p = PromptConfig.model_validate(yaml.safe_load(f.read_text()))
        for sample in (SAMPLE, MC):
            check_templates(p, sample)
            assert render(p, sample)[-1].content.startswith("What is 2 + 2?")


@pytest.mark.parametrize(("user", "pattern"), [
    ("{input} {}", r"placeholder without a name \(\{\} or \{0\}\) in prompt\.user"),
    ("{input} {0}", r"placeholder without a name"),
    ("{input} }", r"a single '\}' in prompt\.user"),
    ("{input} {", r"a single '\{' in prompt\.user"),
    ('{input} Reply as {"answer": 42}', r"unknown placeholder \{\"answer\"\} in prompt\.user; available: .*"
                                         r"write \{\{ and \}\} for a literal \{ and \}"),
    ("{input:d}", r"prompt\.user cannot be filled for sample 's1' \(ValueError"),
    ("{input.missing}", r"unknown placeholder \{input\.missing\}"),
])
def test_templates_str_format_cannot_fill_fail_at_the_check(user: str, pattern: str) -> None:
    """Each of these used to pass the check and raise in the middle of a job (or raise a bare ValueError)."""
    p = PromptConfig(name="bad", user=user)
    with pytest.raises(PromptError, match=pattern):
        check_templates(p, SAMPLE)


def test_typo_hint_has_no_brace_advice_and_literal_braces_render() -> None:
    with pytest.raises(PromptError) as info:
        check_templates(PromptConfig(name="bad", user="{input} {questoin}"), SAMPLE)
    assert "{{" not in str(info.value)
    p = PromptConfig(name="json", user='{input} Reply as {{"answer": 42}}')
    check_templates(p, SAMPLE)
    assert render(p, SAMPLE)[-1].content == 'What is 2 + 2? Reply as {"answer": 42}'


def test_target_placeholders_are_found() -> None:
    from evalsweep.task.prompts import target_placeholders

    assert target_placeholders(PromptConfig(name="p", user="{input}")) == []
    leak = PromptConfig(name="p", system="The answer is {target}.", user="{input} ({answer})")
    assert target_placeholders(leak) == ["prompt.system: {target}"]
    assert target_placeholders(leak, "answer") == ["prompt.system: {target}", "prompt.user: {answer}"]
