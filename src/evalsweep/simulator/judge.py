"""The simulator as a judge: it recognises a grading prompt (labelled sections holding the
question, the reference answer and the response to grade), decides whether the response's final
answer matches the reference, and reports that verdict correctly with probability
`judge_accuracy` (deterministic per item and response), so simulated runs show real judge
disagreement.

Recognised labels, each as `[Label]:` (or `[Label]` on its own line), the value running to the
next `***` line, the next `[Label]` or `[END DATA]`:
  question:  [Question] [Task] [Input] [Prompt]
  reference: [Reference answer] [Reference] [Target] [Expected answer]
  response:  [Response] [Submission] [Answer] [Output] [Model answer]
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_LABELS = {
    "question": ("question", "task", "input", "prompt"),
    "reference": ("reference answer", "reference", "target", "expected answer", "correct answer"),
    "response": ("response", "submission", "answer", "output", "model answer", "model response"),
}
_SECTION = re.compile(r"^\s*\[([A-Za-z][A-Za-z _-]{0,40})\]:?[ \t]*", re.MULTILINE)
_END = re.compile(r"^\s*(?:\*\*\*+|\[END DATA\])\s*$", re.MULTILINE | re.IGNORECASE)
_GRADE_LETTERS = re.compile(r"GRADE:\s*\"?([A-Z])\b")
_ANSWER_MARK = re.compile(r"answer\s*(?:is)?\s*[:=]?\s*(.+)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")
_LETTER = re.compile(r"\b([A-H])\b")


@dataclass(frozen=True)
class JudgeTask:
    question: str
    reference: str
    response: str
    # The grade letters a "GRADE: X" rubric names, in order (e.g. ["C", "I"]); empty if none.
    letters: tuple[str, ...]


@dataclass(frozen=True)
class Verdict:
    says_correct: bool  # what the judge reports
    truly_correct: bool  # what comparing the answers shows
    explanation: str


def parse_task(text: str) -> JudgeTask | None:
    """The grading task in a prompt, or None when the prompt is not a grading prompt."""
    found: dict[str, str] = {}
    matches = list(_SECTION.finditer(text))
    for i, m in enumerate(matches):
        label = m.group(1).strip().lower()
        role = next((r for r, names in _LABELS.items() if label in names), None)
        if role is None or role in found:
            continue
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        stop = _END.search(text, m.end(), end)
        found[role] = text[m.end(): stop.start() if stop else end].strip()
    if not {"reference", "response"} <= set(found):
        return None
    letters = tuple(dict.fromkeys(_GRADE_LETTERS.findall(text)))
    return JudgeTask(found.get("question", ""), found["reference"], found["response"], letters)


def _final(text: str) -> str:
    marks = _ANSWER_MARK.findall(text)
    if marks:
        return marks[-1].strip()
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s.-]", "", text.lower()).split()).rstrip(".")


def stated_answer(response: str, reference: str) -> str:
    """The response's final answer, read the way the reference is written (number, letter, text)."""
    final = _final(response)
    ref = reference.strip()
    if _NUMBER.fullmatch(ref.replace(" ", "")):
        nums = _NUMBER.findall(final)
        return nums[-1].replace(",", "") if nums else final
    if re.fullmatch(r"[A-Ha-h]", ref):
        letters = _LETTER.findall(final.upper())
        return letters[-1] if letters else final
    return final


def answers_match(response: str, reference: str) -> bool:
    got = stated_answer(response, reference)
    ref = reference.strip()
    try:
        return abs(float(got) - float(ref.replace(",", ""))) <= 1e-9 * max(1.0, abs(float(ref.replace(",", ""))))
    except ValueError:
        return _normal(got) == _normal(ref)


def judge(task: JudgeTask, *, accuracy: float, seed: int | None, temperature: float) -> Verdict:
    """Grade correctly with probability `accuracy` (a fixed draw per question and response)."""
    truth = answers_match(task.response, task.reference)
    key = f"judge\x00{task.question}\x00{task.reference}\x00{task.response}"
    if temperature > 0:
        key += f"\x00seed={seed}"
    u = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2.0**64
    says = truth if u < accuracy else not truth
    got = stated_answer(task.response, task.reference) or "no answer"
    verb = "matches" if says else "does not match"
    explanation = f"The response's final answer is {got}, which {verb} the reference answer {task.reference.strip()}."
    return Verdict(says_correct=says, truly_correct=truth, explanation=explanation)


def text_reply(task: JudgeTask, verdict: Verdict) -> str:
    """The judge's reply in the format the rubric asks for: "GRADE: <letter>" when it names
    grade letters, else a plain "Correct." / "Incorrect."."""
    if task.letters:
        positive = "C" if "C" in task.letters else task.letters[0]
        others = [x for x in task.letters if x != positive]
        negative = "I" if "I" in task.letters else (others[0] if others else "I")
        return f"{verdict.explanation}\nGRADE: {positive if verdict.says_correct else negative}"
    return f"{verdict.explanation}\n{'Correct.' if verdict.says_correct else 'Incorrect.'}"
