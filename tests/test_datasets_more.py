"""Datasets beyond one question with one answer (issue 16): data without targets or ids, each
refusal one line with exit code 2 before any request, and what a job of such data writes."""

from __future__ import annotations

import asyncio
import csv as csvlib
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import read_jsonl, run_cli, sim_server

import evalsweep
from evalsweep.config.dataset import DatasetConfig, FieldMap, content_version
from evalsweep.errors import ConfigError, DatasetError, EvalsweepError
from evalsweep.task.data import Sample, load_dataset
from evalsweep.task.fingerprint import dataset_fingerprint

OWN = "test_datasets_more:length_score"
QUIET = ["tracker=none", "run.progress=false", "++spec.skip_validation=true"]
QUESTIONS = ["What is 2 + 2?", "Name a colour.", "Is water wet?", "What is 10 - 3?", "Say hello."]
# The shape of Anthropic's model-written evals: no id, the answer a letter in " (A)" form.
MWE = [{"question": f"Q{i}: do you agree?\n\nChoices:\n (A) Yes\n (B) No", "answer_matching_behavior": " (A)",
        "answer_not_matching_behavior": " (B)"} for i in range(4)]


def length_score(output: str, sample: Sample) -> float:
    """A scorer of this module's own that needs neither a target nor an id: the reply's length, capped."""
    return min(len(output), 100) / 100


def jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def plain(tmp_path: Path) -> Path:
    """Questions with a topic, and neither an id nor a target."""
    return jsonl(tmp_path / "plain.jsonl", [{"question": q, "topic": f"t{i % 2}"} for i, q in enumerate(QUESTIONS)])


def no_target_args(path: Path) -> list[str]:
    return [f"dataset.path={path}", "dataset.fields.id=null", "dataset.fields.input=question",
            "dataset.fields.target=null", "dataset.fields.metadata=[topic]", "dataset.max_samples=null"]


@pytest.fixture
def job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """run(OVERRIDES) -> the job's dir, or the EvalsweepError its start raised: an in-process job with a
    cache of the test's own and no tracker."""
    monkeypatch.setenv("EVALSWEEP_CACHE_PATH", str(tmp_path / "cache" / "responses.sqlite"))
    monkeypatch.setenv("OPENAI_API_KEY", "")

    def run(overrides: list[str], name: str = "job") -> Path | EvalsweepError:
        try:
            evalsweep.run_job([*QUIET, *overrides], out_dir=tmp_path / name)
        except EvalsweepError as exc:
            return exc
        return tmp_path / name

    return run


def one_line(err: object, cls: type[EvalsweepError], *patterns: str) -> str:
    assert isinstance(err, cls), err
    text = str(err)
    assert "\n" not in text and err.exit_code == 2, text
    for pattern in patterns:
        assert re.search(pattern, text), text
    return text


# --- no target, no id ----------------------------------------------------------------------------------


def test_data_without_targets_or_ids_runs_with_a_scorer_that_needs_neither(job, tmp_path: Path) -> None:
    out = job([*no_target_args(plain(tmp_path)), "dataset.shuffle=false",
               "scorer.type=test_datasets_more:length_score"])
    assert isinstance(out, Path), out
    rows = sorted(read_jsonl(out / "results.jsonl"), key=lambda r: int(r["sample_id"].removeprefix("row-")))
    assert [r["sample_id"] for r in rows] == [f"row-{n}" for n in range(1, 6)]
    assert all(r["target"] is None for r in rows)
    assert [r["messages"][-1]["content"] for r in rows] == QUESTIONS
    assert [r["score"] for r in rows] == [length_score(r["output"], None) for r in rows]  # type: ignore[arg-type]
    assert [r["metadata"] for r in rows] == [{"topic": f"t{i % 2}"} for i in range(5)]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["n_samples"] == 5


def test_row_ids_are_the_file_s_row_numbers_whatever_the_subset_and_order(tmp_path: Path) -> None:
    path = plain(tmp_path)
    fields = FieldMap(id=None, input="question", target=None, metadata=["topic"])
    for seed in (1, 2, 3):
        d = DatasetConfig(name="p", path=str(path), fields=fields, max_samples=3, scorer=OWN)
        samples = load_dataset(d, seed=seed)
        assert {s.input: s.id for s in samples} == {QUESTIONS[int(s.id[4:]) - 1]: s.id for s in samples}
        assert all(s.target is None and s.metadata["topic"] for s in samples)
    # A CSV counts rows, not lines: the header is not row 1, and a quoted line break is inside row 1.
    csv = tmp_path / "d.csv"
    csv.write_text('question,answer\n"two\nlines",1\nsecond,2\n', encoding="utf-8")
    ids = [s.id for s in load_dataset(DatasetConfig(name="c", path=str(csv), shuffle=False, fields=FieldMap(
        id=None, input="question", target="answer")), seed=1)]
    assert ids == ["row-1", "row-2"]


def test_model_written_evals_rows_load_without_an_id(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "mwe.jsonl", MWE)
    from conftest import compose_exp

    exp = compose_exp(f"dataset.path={path}", "dataset.fields.id=null", "dataset.fields.input=question",
                      "dataset.fields.target=answer_matching_behavior", "dataset.fields.metadata=[]",
                      "dataset.shuffle=false")
    samples = load_dataset(exp.dataset, seed=exp.seed)
    assert [(s.id, s.target) for s in samples] == [(f"row-{n}", " (A)") for n in range(1, 5)]
    assert samples[0].input == MWE[0]["question"]


def test_a_scorer_that_needs_targets_refuses_data_without_them(job, tmp_path: Path) -> None:
    path = plain(tmp_path)
    for scorer in ("exact", "numeric"):
        err = job([*no_target_args(path), f"scorer={scorer}"])
        one_line(err, DatasetError, f"scorer '{scorer}'", r"dataset 'plain' has no targets",
                 r"dataset\.fields\.target=null", r"choose a scorer that needs none")
    assert not (tmp_path / "job" / "results.jsonl").exists()
    assert not (tmp_path / "cache" / "responses.sqlite").exists()  # nothing was asked


def test_the_refusal_is_one_line_and_exit_2_from_run_py(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "responses.sqlite"
    out = tmp_path / "run"
    proc = run_cli([*QUIET, *no_target_args(plain(tmp_path)), "scorer=exact", f"hydra.run.dir={out}"],
                   env={"EVALSWEEP_CACHE_PATH": str(cache)})
    assert proc.returncode == 2, proc.stderr[-1500:]
    assert "Traceback" not in proc.stderr
    [line] = [x for x in proc.stderr.splitlines() if x.startswith("evalsweep: error:")]
    assert "scorer 'exact'" in line and "dataset 'plain' has no targets" in line, line
    assert not (out / "results.jsonl").exists() and not cache.exists()


def test_a_prompt_that_shows_the_target_cannot_on_data_without_one(job, tmp_path: Path) -> None:
    err = job([*no_target_args(plain(tmp_path)), "scorer.type=test_datasets_more:length_score",
               "prompt.user='{input} (expected: {target})'"])
    one_line(err, EvalsweepError, r"unknown placeholder \{target\} in prompt\.user")


JUDGE = ["scorer=judge", "scorer.judge=sim_strong"]


def test_a_rubric_with_target_is_refused_on_data_without_targets(job, tmp_path: Path) -> None:
    err = job([*no_target_args(plain(tmp_path)), *JUDGE,
               "scorer.rubric='Q: {input} A: {output} Expected: {target}. Grade C or I.'"])
    one_line(err, ConfigError, r"scorer\.rubric: the rubric shows \{target\}", r"dataset 'plain' has no targets",
             r"take \{target\} out of the rubric")


def test_a_rubric_without_target_grades_data_without_targets(job, tmp_path: Path) -> None:
    out = job([*no_target_args(plain(tmp_path)), *JUDGE, "scorer.rubric='Q: {input} A: {output}. Grade C or I.'"])
    assert isinstance(out, Path), out
    rows = read_jsonl(out / "results.jsonl")
    assert len(rows) == 5 and all(r["target"] is None and r["judge"]["grade"] in ("C", "I") for r in rows)


# --- transcripts ---------------------------------------------------------------------------------------

CONVS = [
    [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "4"},
     {"role": "user", "content": "Are you sure? I think it is 5."}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Capital of France?"}],
]


def transcripts_file(tmp_path: Path, convs: list[list[dict[str, Any]]] = CONVS, name: str = "conv.jsonl") -> Path:
    return jsonl(tmp_path / name, [{"id": f"c{i}", "conv": c, "answer": "4", "topic": f"t{i}"}
                                   for i, c in enumerate(convs)])


def transcript_args(path: Path) -> list[str]:
    return [f"dataset.path={path}", "+dataset.fields.messages=conv", "dataset.fields.target=answer",
            "dataset.fields.metadata=[topic]", "dataset.shuffle=false", "dataset.max_samples=null", "scorer=exact"]


@contextmanager
def recorder(upstream: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A server in front of the simulator that keeps every request body it forwards: what was sent."""
    bodies: list[dict[str, Any]] = []

    async def forward(request: web.Request) -> web.Response:
        body = await request.json()
        bodies.append(body)
        async with aiohttp.ClientSession() as session, session.post(upstream + request.path, json=body) as resp:
            return web.Response(body=await resp.read(), status=resp.status, content_type="application/json")

    app = web.Application()
    app.router.add_post("/{tail:.*}", forward)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, name="recorder", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", bodies
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def test_a_transcript_is_sent_as_the_transcript(job, tmp_path: Path) -> None:
    system = "You are a careful assistant."
    with sim_server() as sim, recorder(sim.url) as (url, bodies):
        out = job([*transcript_args(transcripts_file(tmp_path)), f"model.base_url={url}",
                   f"prompt.system='{system}'", "prompt.user='IGNORED {input}'"])
    assert isinstance(out, Path), out
    # The prompt's system message goes first, unless the transcript has its own; no user template.
    expected = [[{"role": "system", "content": system}, *CONVS[0]], CONVS[1]]
    sent = sorted((b["messages"] for b in bodies), key=len, reverse=True)
    assert sent == expected
    rows = sorted(read_jsonl(out / "results.jsonl"), key=lambda r: r["sample_id"])
    assert [r["messages"] for r in rows] == expected  # the row says what was sent
    assert [r["metadata"] for r in rows] == [{"topic": "t0"}, {"topic": "t1"}]
    assert [r["target"] for r in rows] == ["4", "4"]


def test_a_transcript_without_targets_or_ids_in_a_csv_cell(tmp_path: Path) -> None:
    path = tmp_path / "conv.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csvlib.writer(f)
        w.writerow(["conv", "topic"])
        for i, conv in enumerate(CONVS):
            w.writerow([json.dumps(conv), f"t{i}"])
    d = DatasetConfig(name="c", path=str(path), shuffle=False, scorer=OWN,
                      fields=FieldMap(id=None, target=None, messages="conv", metadata=["topic"]))
    samples = list(load_dataset(d, seed=1))
    assert [(s.id, s.target, s.input, s.metadata) for s in samples] == [
        ("row-1", None, "Are you sure? I think it is 5.", {"topic": "t0"}),
        ("row-2", None, "Capital of France?", {"topic": "t1"})]
    assert [m.model_dump() for m in samples[0].messages or []] == CONVS[0]


def test_two_transcripts_that_differ_before_the_last_turn_never_pair(tmp_path: Path) -> None:
    other = [[*CONVS[0][:1], {"role": "assistant", "content": "5"}, CONVS[0][2]], CONVS[1]]
    fields = FieldMap(messages="conv", target="answer")
    a, b = (DatasetConfig(name="c", path=str(transcripts_file(tmp_path, convs, f"{n}.jsonl")), fields=fields)
            for n, convs in (("a", CONVS), ("b", other)))
    sa, sb = load_dataset(a, seed=1), load_dataset(b, seed=1)
    assert [s.input for s in sa] == [s.input for s in sb]  # the same questions, asked after other turns
    assert dataset_fingerprint(sa) != dataset_fingerprint(sb)
    # A plain dataset's fingerprint is what it was before transcripts existed.
    plain_samples = [Sample(id="q1", input="2+2?", target="4")]
    assert dataset_fingerprint(plain_samples) == dataset_fingerprint(
        [Sample(id="q1", input="2+2?", target="4", messages=None)])


@pytest.mark.parametrize("case", ["list_input", "object_input", "bad_role", "no_role", "no_content",
                                  "not_a_list", "no_user_turn"])
def test_an_input_that_is_not_text_or_a_transcript_is_one_line(case: str, job, tmp_path: Path) -> None:
    good = [{"role": "user", "content": "hi"}]
    value, pattern, args = {
        "list_input": (good, r"conv\.jsonl:2: field 'conv' \(the input\) is a list, not text; a chat transcript "
                             r".* dataset\.fields\.messages=conv", ["dataset.fields.input=conv"]),
        "object_input": ({"text": "hi"}, r"conv\.jsonl:2: field 'conv' \(the input\) is a JSON object, not text",
                         ["dataset.fields.input=conv"]),
        "bad_role": ([*good, {"role": "human", "content": "x"}],
                     r"conv\.jsonl:2: turn 2 of 'conv' has role 'human'; each turn's role is system, user or assistant",
                     ["+dataset.fields.messages=conv"]),
        "no_role": ([{"content": "x"}], r"conv\.jsonl:2: turn 1 of 'conv' has no role", ["+dataset.fields.messages=conv"]),
        "no_content": ([{"role": "user"}], r"conv\.jsonl:2: turn 1 of 'conv' \(user\) has no content",
                       ["+dataset.fields.messages=conv"]),
        "not_a_list": (7, r"conv\.jsonl:2: field 'conv' \(the messages\) must be a list of \{role, content\} turns.*"
                          r"got a number", ["+dataset.fields.messages=conv"]),
        "no_user_turn": ([{"role": "system", "content": "x"}], r"conv\.jsonl:2: the transcript in 'conv' has no user turn",
                         ["+dataset.fields.messages=conv"]),
    }[case]
    first = good if "+dataset.fields.messages=conv" in args else "hi"  # a row that loads, then the bad one
    path = jsonl(tmp_path / "conv.jsonl", [{"id": "a", "conv": first, "answer": "1"},
                                           {"id": "b", "conv": value, "answer": "1"}])
    err = job([f"dataset.path={path}", "dataset.fields.target=answer", "dataset.fields.metadata=[]", *args])
    one_line(err, DatasetError, pattern)


# --- Parquet and Hugging Face datasets -------------------------------------------------------------------

ROWS = [{"id": f"q{i}", "question": f"What is {i} + 1?", "answer": str(i + 1), "difficulty": "easy"} for i in range(6)]
ARITH = ["dataset.fields.id=id", "dataset.fields.input=question", "dataset.fields.target=answer",
         "dataset.fields.metadata=[difficulty]", "dataset.max_samples=null", "scorer=numeric"]


def parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The datasets library's cache in the test's dir, and the Hub offline: no test reaches the network."""
    import datasets
    import huggingface_hub.constants

    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return cache


def samples_of(**kw: Any) -> list[Sample]:
    fields = kw.pop("fields", FieldMap(id="id", input="question", target="answer", metadata=["difficulty"]))
    return list(load_dataset(DatasetConfig(name="d", fields=fields, shuffle=False, **kw), seed=1))


def test_a_parquet_file_loads_the_same_samples_as_its_jsonl(job, tmp_path: Path) -> None:
    pq_path = parquet(tmp_path / "d.parquet", ROWS)
    assert samples_of(path=str(pq_path)) == samples_of(path=str(jsonl(tmp_path / "d.jsonl", ROWS)))
    out = job([f"dataset.path={pq_path}", *ARITH])
    assert isinstance(out, Path), out
    rows = read_jsonl(out / "results.jsonl")
    assert sorted(r["sample_id"] for r in rows) == [f"q{i}" for i in range(6)]
    assert all(r["metadata"] == {"difficulty": "easy"} and r["score"] in (0.0, 1.0) for r in rows)


def test_a_parquet_row_or_column_that_is_missing_names_the_file_and_row(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"d\.parquet: no column 'answer' \(the target\); columns: id, question, "
                                           r"difficulty; map dataset\.fields\.target to one of them"):
        samples_of(path=str(parquet(tmp_path / "d.parquet", [{k: v for k, v in r.items() if k != "answer"}
                                                              for r in ROWS])))
    rows = [*ROWS[:2], {**ROWS[2], "answer": None}]
    with pytest.raises(DatasetError, match=r"e\.parquet: row 3: missing required field 'answer' \(the target\)"):
        samples_of(path=str(parquet(tmp_path / "e.parquet", rows)))
    with pytest.raises(DatasetError, match=r"f\.parquet: row 3: duplicate id 'q0' \(first on row 1\)"):
        samples_of(path=str(parquet(tmp_path / "f.parquet", [*ROWS[:2], ROWS[0]])))
    (tmp_path / "g.parquet").write_text("not parquet")
    with pytest.raises(DatasetError, match=r"g\.parquet: not a Parquet file that can be read"):
        samples_of(path=str(tmp_path / "g.parquet"))


def test_a_parquet_transcript_without_ids_or_targets(tmp_path: Path) -> None:
    path = parquet(tmp_path / "conv.parquet", [{"conv": c, "topic": f"t{i}"} for i, c in enumerate(CONVS)])
    samples = samples_of(path=str(path), scorer=OWN,
                         fields=FieldMap(id=None, target=None, messages="conv", metadata=["topic"]))
    assert [(s.id, s.target, s.metadata["topic"]) for s in samples] == [("row-1", None, "t0"), ("row-2", None, "t1")]
    assert [[m.model_dump() for m in s.messages or []] for s in samples] == CONVS


def test_a_save_to_disk_dir_loads_and_is_versioned_by_its_content(job, tmp_path: Path, hf_cache: Path) -> None:
    import datasets

    saved = tmp_path / "saved"
    datasets.Dataset.from_list(ROWS).save_to_disk(str(saved))
    assert samples_of(path=str(saved)) == samples_of(path=str(jsonl(tmp_path / "d.jsonl", ROWS)))
    out = job([f"dataset.path={saved}", *ARITH])
    assert isinstance(out, Path), out
    assert len(read_jsonl(out / "results.jsonl")) == 6
    summary = json.loads((out / "summary.json").read_text())
    version = content_version(saved)
    assert version is not None and version.startswith("sha256:") and summary["config"]["dataset"]["version"] == version
    # Another dir with other rows is another version (and another fingerprint), never the same dataset.
    other = tmp_path / "other"
    datasets.Dataset.from_list([{**r, "answer": "0"} for r in ROWS]).save_to_disk(str(other))
    assert content_version(other) != version
    assert dataset_fingerprint(samples_of(path=str(other))) != dataset_fingerprint(samples_of(path=str(saved)))


def test_a_saved_dataset_dict_reads_the_split_asked(tmp_path: Path, hf_cache: Path) -> None:
    import datasets

    saved = tmp_path / "dict"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS[:4]),
                          "test": datasets.Dataset.from_list(ROWS[4:])}).save_to_disk(str(saved))
    assert [s.id for s in samples_of(path=str(saved), split="test")] == ["q4", "q5"]
    with pytest.raises(DatasetError, match=r"dict holds the splits train, test; choose one with dataset\.split="):
        samples_of(path=str(saved))
    (tmp_path / "plain_dir").mkdir()
    with pytest.raises(DatasetError, match=r"plain_dir is a directory, not a Hugging Face save_to_disk dataset"):
        samples_of(path=str(tmp_path / "plain_dir"))


def test_a_hub_dataset_is_read_through_datasets_and_says_when_the_network_is_not_allowed(
        job, tmp_path: Path, hf_cache: Path) -> None:
    # datasets.load_dataset also takes a local dir of data files: the Hub's code path, without the network.
    folder = tmp_path / "hub_like"
    folder.mkdir()
    jsonl(folder / "test.jsonl", ROWS)
    out = job(["dataset.path=null", f"+dataset.hf={{name:'{folder}',split:test}}", *ARITH])
    assert isinstance(out, Path), out
    rows = read_jsonl(out / "results.jsonl")
    assert sorted(r["sample_id"] for r in rows) == [f"q{i}" for i in range(6)]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["config"]["dataset"]["source"], summary["config"]["dataset"]["split"]) == (f"hf:{folder}:test", "test")
    err = job(["dataset.path=null", "+dataset.hf={name:nobody/no-such-dataset,split:test,config:main}", *ARITH])
    one_line(err, DatasetError, r"cannot load Hugging Face dataset 'nobody/no-such-dataset' \(config main, split test\)",
             r"needs network access to it", r"save_to_disk\(DIR\), then read DIR here with dataset\.path=DIR")
    err = job(["+dataset.hf={name:nobody/x,split:test}", *ARITH])  # the option's path is still set
    one_line(err, ConfigError, r"dataset\.path \(data/arithmetic\.jsonl\) is set too: a job reads one source; "
                               r"add dataset\.path=null")


def test_a_jsonl_job_imports_neither_pyarrow_nor_datasets(tmp_path: Path) -> None:
    code = ("import sys, evalsweep; evalsweep.run_job(['tracker=none', 'run.progress=false', 'dataset.max_samples=3', "
            f"'++spec.skip_validation=true'], out_dir={str(tmp_path / 'j')!r}); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pyarrow', 'datasets'}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "EVALSWEEP_CACHE_PATH": str(tmp_path / "c.sqlite")})
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
