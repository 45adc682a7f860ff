"""Hostile catalogue text in the report, in real headless Chromium (the corpus's REPORT_TEXT_CASES).

Every case's text becomes a category: a metric slice ``category:<text>`` (the verdict, the
plots, the metric table) and a category name of the explanation (its tables and map). A harness
page in the test's directory loads the report in a same-origin iframe and writes into its own
DOM, which ``--dump-dom`` returns: whether a payload ran (``window.__pwned``, set by every
payload on the harness window), the elements of kinds the report never writes, the page's
title, its width against the window's and the text a reader sees. The plot of utility by slice
is checked for labels clipped at the image's left edge.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from samplegen.evaluate.report import ReportData, write_report
from tests.corpus.bad_input import REPORT_TEXT_CASES, ReportTextCase
from tests.e2e.test_report_browser import (
    EVIL_SLICE,
    K,
    _explanation,
    _metrics,
    _page_errors,
    _run_chromium,
)

WIDTH = 1200
HARNESS = """<!DOCTYPE html>
<html><head><meta charset="utf-8"></head><body>
<pre id="result">pending</pre>
<iframe id="report" src="REPORT_URL" width="WIDTH" height="900" onload="check()"></iframe>
<script>
function check() {
  try {
    const frame = document.getElementById("report");
    const doc = frame.contentDocument;
    const kinds = "script, svg, iframe, object, embed, b, i, img";
    const foreign = Array.from(doc.querySelectorAll(kinds))
      .filter(e => !(e.tagName === "IMG" && e.getAttribute("src").startsWith("data:image/png")))
      .map(e => e.tagName);
    document.getElementById("result").textContent = JSON.stringify({
      pwned: window.__pwned === undefined ? null : String(window.__pwned),
      foreign: foreign,
      title: doc.title,
      scrollWidth: doc.documentElement.scrollWidth,
      clientWidth: doc.documentElement.clientWidth,
      text: doc.body.innerText,
    });
  } catch (e) {
    document.getElementById("result").textContent = "harness error: " + e;
  }
}
</script>
</body></html>
"""


def _hostile_metrics() -> pd.DataFrame:
    """The browser test's metrics, with each case's slice beside the usual ones."""
    metrics = _metrics()
    template = metrics[metrics["slice"] == EVIL_SLICE]
    extra = [template.assign(slice=f"category:{case.text}") for case in REPORT_TEXT_CASES]
    return pd.concat([metrics, *extra], ignore_index=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = ReportData(
        explanation=_explanation(
            [case.text for case in REPORT_TEXT_CASES], items_per_name=4, seed=5
        )
    )
    out = tmp_path_factory.mktemp("reports") / "run-hostile"
    return write_report(out, "run-hostile", _hostile_metrics(), {"strategy": "vae"}, K, data)


@pytest.fixture(scope="module")
def seen(report, tmp_path_factory) -> dict:
    """What the harness found in the report, and Chromium's log of the page."""
    folder = tmp_path_factory.mktemp("harness")
    harness = folder / "harness.html"
    page = HARNESS.replace("REPORT_URL", html.escape(report.as_uri())).replace("WIDTH", str(WIDTH))
    harness.write_text(page, "utf-8")
    result = _run_chromium(
        folder,
        "hostile",
        ["--allow-file-access-from-files", f"--window-size={WIDTH + 100},1000", "--dump-dom"],
        harness.as_uri(),
    )
    match = re.search(r'<pre id="result">(.*?)</pre>', result.stdout, re.S)
    assert match, result.stdout
    found = html.unescape(match.group(1))
    assert found.startswith("{"), found
    return json.loads(found) | {"stderr": result.stderr}


def test_no_payload_ran_and_nothing_was_injected(seen, report):
    assert seen["pwned"] is None, "a payload in a category name ran"
    assert seen["foreign"] == []
    assert seen["title"] == "samplegen evaluation \u2014 run-hostile"
    assert _page_errors(seen["stderr"], report) == []


def test_the_page_keeps_the_window_width(seen):
    assert (
        seen["scrollWidth"] <= seen["clientWidth"] + 1
    ), f"the page is {seen['scrollWidth']}px wide in a {seen['clientWidth']}px window"


@pytest.mark.parametrize("case", REPORT_TEXT_CASES, ids=lambda c: c.name)
def test_the_text_is_shown_as_written(seen, case: ReportTextCase):
    assert case.shown in seen["text"]


def test_plot_labels_are_not_clipped(report):
    page = report.read_text(encoding="utf-8")
    match = re.search(
        r'<figure id="plot-utility-by-slice"><img alt="[^"]*" src="data:image/png;base64,([^"]+)"',
        page,
    )
    assert match
    with Image.open(io.BytesIO(base64.b64decode(match.group(1)))) as image:
        pixels = np.asarray(image.convert("L"))
    edge = pixels[:, :3]
    assert (edge < 200).mean() == 0, "tick labels run off the plot's left edge"
