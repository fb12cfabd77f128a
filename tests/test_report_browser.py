"""report.html in a real headless Chromium (the system's, driven by playwright; no browser is
downloaded): the page loads without console errors, the sample browser's filters narrow its table,
a row opens its transcript beside another variant's, and a 1280x800 screenshot shows the headline
block and the first table without scrolling.

Skips where no Chromium or playwright is found, except in CI (CI=true), where it fails instead."""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evalsweep.report import write_report
from evalsweep.report.browser import ASSETS

_spec = importlib.util.spec_from_file_location("_report_helpers", Path(__file__).with_name("test_report_load.py"))
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)  # type: ignore[union-attr]

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WIDTH, HEIGHT = 1280, 800
EVIL = "</script><script>window.__pwned = 1</script><!--"  # a transcript quoting HTML must stay text
SPEC = {"hypothesis": "sim-strong scores higher than sim-weak on the same items.",
        "falsification": "The paired difference sim-strong minus sim-weak has a 95% CI that includes 0 or lies below it.",
        "baseline": "model=sim-weak"}


def _chromium() -> str | None:
    said = os.environ.get("EVALSWEEP_CHROMIUM")
    if said:
        return said if Path(said).is_file() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must run this test (.ci/run installs chromium; playwright is a dev dependency)")
    pytest.skip(reason)


def _sweep(root: Path) -> Path:
    """Two models x two seeds on 30 items, each item with a category, one output quoting HTML."""
    sweep = root / "sweep"
    num = 0
    for model in ("sim-weak", "sim-strong"):
        for seed in (1, 2):
            records = H.job_records(model, "direct", seed, 30)
            for i, r in enumerate(records):
                r["metadata"] = {"category": "odd" if i % 2 else "even"}
            if model == "sim-strong" and seed == 1:
                records[3]["output"] = f"the answer {EVIL}"
            cfg = {"model": {"name": model, "provider": "openai", "temperature": 0.7},
                   "dataset": {"name": "arithmetic", "max_samples": 30}, "prompt": {"name": "direct"},
                   "seed": seed, "repeats": 1, "spec": SPEC}
            H.write_job(sweep / str(num), records, config=cfg)
            num += 1
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    return sweep


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report([_sweep(tmp_path_factory.mktemp("browser"))], group_by="category").html


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    exe = _chromium()
    if exe is None:
        _unavailable("no chromium found (apt-get install -y chromium, or set EVALSWEEP_CHROMIUM)")
    if importlib.util.find_spec("playwright") is None:
        _unavailable("playwright is not installed (make setup installs the dev dependencies)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # --no-sandbox: CI and this machine run as root, where Chromium's sandbox will not start.
        b = pw.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture()
def page(browser: Any, report: Path) -> Iterator[Any]:
    pg = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    pg.problems = []  # console errors and uncaught exceptions
    pg.on("console", lambda m: pg.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.problems.append(f"page error: {e}"))
    pg.goto(report.as_uri())
    pg.wait_for_selector("#sb-table tbody tr")
    yield pg
    pg.close()


def _count(pg: Any) -> int:
    return pg.locator("#sb-table tbody tr").count()


def test_page_loads_without_console_errors_and_embeds_every_sample(page: Any) -> None:
    assert page.problems == []
    assert page.evaluate("window.__pwned") is None  # the quoted </script> did not close the data tag
    assert _count(page) == 120  # 4 jobs x 30 samples, under the cap
    assert page.locator("#sb-count").inner_text().startswith("120 of 120")
    assert page.locator("#sb-note").inner_text().startswith("All 120 sample(s) of 2 variant(s)")


def test_filters_narrow_the_table(page: Any) -> None:
    page.fill("#sb-text", "q007")
    assert _count(page) == 4  # one item, two variants x two seeds
    assert all("q007" in t for t in page.locator("#sb-table tbody tr td:nth-child(2)").all_inner_texts())
    page.fill("#sb-text", "")
    page.select_option("#sb-variant", "model=sim-strong")
    assert _count(page) == 60
    assert page.locator("#sb-field").input_value() == "category"  # the report's --group-by comes first
    page.select_option("#sb-value", "odd")
    assert _count(page) == 30
    page.select_option("#sb-score", "=0")
    n = _count(page)
    assert 0 < n < 30 and set(page.locator("#sb-table tbody tr td:nth-child(5)").all_inner_texts()) == {"0"}
    assert page.problems == []


def test_a_row_opens_its_transcript_beside_another_variant(page: Any) -> None:
    page.fill("#sb-text", "q003")
    page.select_option("#sb-variant", "model=sim-strong")
    assert _count(page) == 2
    page.locator("#sb-table tbody tr").first.click()
    assert page.locator("#sb-detail").is_visible()
    left, right = page.locator("#sb-left").inner_text(), page.locator("#sb-right").inner_text()
    assert "model=sim-strong" in left and "question q003" in left and "tq003" in left
    assert EVIL in left  # shown as text, whole
    assert "model=sim-weak" in right and "question q003" in right and "seed 1" in right
    page.click("#sb-close")
    assert not page.locator("#sb-detail").is_visible()
    assert page.problems == []


def test_first_screen_shows_the_headline_and_the_first_table(page: Any) -> None:
    png = page.screenshot()  # the viewport only: what a reader sees before scrolling
    for selector in ("#headline", "p.verdict", "table >> nth=0"):
        box = page.locator(selector).bounding_box()
        assert box is not None, selector
        assert box["y"] >= 0 and box["x"] >= 0, selector
        assert box["y"] + box["height"] <= HEIGHT and box["x"] + box["width"] <= WIDTH, (selector, box)
    assert "supported" in page.locator("p.verdict").inner_text()
    import matplotlib.image as mpimg

    pixels = mpimg.imread(io.BytesIO(png), format="png")[..., :3]
    assert pixels.shape[:2] == (HEIGHT, WIDTH)
    ink = (pixels.mean(axis=2) < 0.6).mean()  # share of dark pixels: text and rules
    assert ink > 0.01 and float(np.std(pixels)) > 0.05, "the screenshot is blank"


def test_embedded_rows_are_capped_per_variant_and_cannot_close_their_tag(
        report: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No browser needed: what the page embeds, and that a huge sweep's page says it is capped."""
    import evalsweep.report.samples as samples

    page = report.read_text()
    data = page.split("<script type='application/json' id='sb-data'>", 1)[1].split("</script>", 1)[0]
    assert "<" not in data and "\\u003c/script\\u003e" in data  # the quoted </script> is escaped
    assert "</" not in (ASSETS / "browser.js").read_text()  # inlined: it must not close its own tag
    monkeypatch.setattr(samples, "PER_VARIANT", 10)
    html = write_report([_sweep(tmp_path)], tmp_path / "out").html.read_text()
    assert "Capped at the first 10 rows per variant by item, seed and repeat, of 120 in all" in html
    assert "model=sim-weak (60), model=sim-strong (60) have more" in html or \
        "model=sim-strong (60), model=sim-weak (60) have more" in html
