"""The stage 4 report in real headless Chromium: it renders offline and every image decodes.

Chromium (the Debian package, ``make browser`` installs it; CI runs that) is driven from the
command line only, no DevTools protocol: ``--dump-dom`` for the parsed DOM, ``--screenshot``
for pixels, and console messages from ``--enable-logging=stderr``. To check the images without
putting any script into the report, a separate harness page in the test's own directory loads
the report in an iframe (same origin thanks to ``--allow-file-access-from-files``), draws every
``<img>`` onto a canvas and writes what it found into its own DOM, which ``--dump-dom`` returns.
"""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import struct
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from samplegen.evaluate.ctr_curves import ScoreCurves, score_curves
from samplegen.evaluate.explain import Explanation, explain
from samplegen.evaluate.report import ReportData, write_report
from samplegen.evaluate.rows import DIFF_VARIANT, METRIC_COLUMNS
from samplegen.models import make_generator

TIMEOUT_S = 60
K = 20
FIGURE_IDS = {
    "plot-utility-by-slice",
    "plot-utility-diff",
    "plot-dose-response",
    "plot-popularity",
    "plot-basket-size",
    "plot-dcr",
    "plot-user-map",
    "plot-ctr-diff",
    "plot-ctr-roc-pr",
    "plot-ctr-calibration",
}
#: Tables of the explain section and the catalogue's item fidelity.
TABLE_IDS = (
    "neighbours-table",
    "category-shift-table",
    "latent-directions-table",
    "item_fidelity-table",
    "ranking-table",
)
EVIL_SLICE = "category:<script>alert('x')</script>"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]

HARNESS = """<!DOCTYPE html>
<html><head><meta charset="utf-8"></head><body>
<pre id="result">pending</pre>
<iframe id="report" src="REPORT_URL" width="1200" height="800" onload="check()"></iframe>
<script>
function check() {
  const out = [];
  try {
    for (const img of document.getElementById("report").contentDocument.images) {
      const item = {figure: img.closest("figure") ? img.closest("figure").id : null,
                    alt: img.alt, complete: img.complete,
                    width: img.naturalWidth, height: img.naturalHeight, colors: 0};
      if (img.naturalWidth > 0) {
        const canvas = document.createElement("canvas");
        canvas.width = img.naturalWidth;
        canvas.height = img.naturalHeight;
        const ctx = canvas.getContext("2d");
        ctx.drawImage(img, 0, 0);
        const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        const colors = new Set();
        for (let i = 0; i < px.length; i += 4 * 7) {
          colors.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
        }
        item.colors = colors.size;
      }
      out.push(item);
    }
    document.getElementById("result").textContent = JSON.stringify(out);
  } catch (e) {
    document.getElementById("result").textContent = "harness error: " + e;
  }
}
</script>
</body></html>
"""


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "chromium is not installed: run `make browser` (apt-get install -y chromium); "
            "CI installs it before the tests",
            pytrace=False,
        )
    return path


def _run_chromium(tmp_path: Path, name: str, args: list[str], url: str):
    """Run headless Chromium once with a fresh profile; fail on timeout or non-zero exit."""
    command = [_chromium(), *FLAGS, f"--user-data-dir={tmp_path / f'profile-{name}'}", *args, url]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium {name} took more than {TIMEOUT_S}s", pytrace=False)
    assert result.returncode == 0, f"chromium {name} exited {result.returncode}:\n{result.stderr}"
    return result


def _page_errors(stderr: str, page: Path) -> list[str]:
    """Log lines about the page itself: console messages, uncaught errors, errors naming it.

    Everything else Chromium logs here (no D-Bus, no GPU, sandbox warnings) is about the
    container, not the report.
    """
    return [
        line
        for line in stderr.splitlines()
        if ":CONSOLE" in line or "Uncaught" in line or ("ERROR:" in line and page.name in line)
    ]


def _metrics() -> pd.DataFrame:
    nan = float("nan")
    rows = []
    for recommender, seeds in (("ease", [nan]), ("als", [0, 1, 2])):
        for slice_, diff in (("all", 0.02), ("cold", -0.02), ("items_tail", 0.0), (EVIL_SLICE, 0)):
            for seed in seeds:
                rows += [
                    (recommender, "real", slice_, "ndcg", K, 0.3, 0.28, 0.32, 400, seed),
                    (
                        recommender,
                        "augmented",
                        slice_,
                        "ndcg",
                        K,
                        0.3 + diff,
                        0.27,
                        0.35,
                        400,
                        seed,
                    ),
                    (recommender, DIFF_VARIANT, slice_, "ndcg", K, diff, diff - 0.01, diff + 0.01)
                    + (400, seed),
                ]
    for dose, ratio in (("dose=0.25", 0.25), ("dose=0.5", 0.5), ("dose=1", 1.0)):
        rows.append(("ease", dose, "all", "ndcg", K, ratio / 50, -0.005, ratio / 25, 400, nan))
        rows.append(("ease", dose, "all", "synthetic_to_real", None, ratio, nan, nan, nan, nan))
    rows.append(("fidelity", "vae", "all", "popularity_tvd", None, 0.1, nan, nan, nan, nan))
    rows.append(("privacy", "vae", "all", "mia_auc", None, 0.51, nan, nan, nan, nan))
    rows.append(("item_fidelity", "catalogue", "all", "ks:price", None, 0.2, nan, nan, nan, nan))
    # A CTR classifier (the ranking-models section): two variants, one paired difference.
    for slice_, diff in (("all", 0.01), ("cold_users", -0.02)):
        for variant, auc in (("real", 0.8), ("augmented", 0.8 + diff)):
            rows.append(
                ("logreg", variant, slice_, "auc", None, auc, auc - 0.02, auc + 0.02, 400, 0)
            )
        low, high = diff - 0.005, diff + 0.005
        rows.append(("logreg", DIFF_VARIANT, slice_, "auc", None, diff, low, high, 400, 0))
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))


def _ctr_curves() -> dict[tuple[str, str], ScoreCurves]:
    """Real and augmented score curves of one classifier on 500 made-up test rows."""
    rng = np.random.default_rng(2)
    labels = (rng.random(500) < 0.2).astype(int)
    curves = {}
    for variant in ("real", "augmented"):
        scores = np.clip(0.2 + 0.3 * labels + rng.normal(0, 0.15, 500), 0.01, 0.99)
        curves[("logreg", variant)] = score_curves(labels, scores)
    return curves


def _explanation(
    names: Sequence[str] = ("dairy", "<b>produce</b>", "bakery", "deli"),
    items_per_name: int = 10,
    seed: int = 4,
) -> Explanation:
    """What the generator learned, from a tiny Mult-VAE: the map and the three tables."""
    rng = np.random.default_rng(seed)
    n_items = items_per_name * len(names)
    item_category = np.arange(n_items) % len(names)

    def records(n: int) -> list[np.ndarray]:
        return [np.sort(rng.choice(n_items, rng.integers(2, 10), replace=False)) for _ in range(n)]

    torch.manual_seed(0)
    model = make_generator("multvae", {"n_items": n_items, "hidden_dims": [16, 6]})
    return explain(
        records(60),
        records(20),
        records(20),
        n_items,
        item_category,
        list(names),
        seed=0,
        targets={names[0]: 0.3},
        model=model,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(1)
    data = ReportData(
        popularity_real=rng.zipf(1.8, 400).astype(float),
        popularity_synthetic=rng.zipf(2.0, 400).astype(float),
        basket_real=rng.poisson(8, 300),
        basket_synthetic=rng.poisson(7, 300),
        dcr_synthetic=rng.gamma(3.0, 1.0, 300),
        dcr_holdout=rng.gamma(3.5, 1.0, 100),
        explanation=_explanation(),
        ctr_curves=_ctr_curves(),
    )
    out = tmp_path_factory.mktemp("reports") / "run-browser"
    return write_report(out, "run-browser", _metrics(), {"strategy": "vae"}, K, data)


def _png_size(encoded: str) -> tuple[int, int]:
    """Width and height from a base64 PNG's IHDR chunk."""
    raw = base64.b64decode(encoded)
    return struct.unpack(">II", raw[16:24])


def test_report_dom_in_chromium(report, tmp_path):
    result = _run_chromium(tmp_path, "dom", ["--dump-dom"], report.as_uri())
    dom = result.stdout
    assert '<section id="verdict">' in dom
    assert "Augmented data wins on" in dom
    for figure_id in FIGURE_IDS:
        assert f'<figure id="{figure_id}">' in dom, figure_id
    assert dom.count("<img ") == len(FIGURE_IDS)
    for table_id in TABLE_IDS:
        assert f'id="{table_id}"' in dom, table_id
    assert '<section id="explain">' in dom
    assert '<section id="ranking-models">' in dom and 'href="#ranking-models"' in dom
    assert '<li class="better">logreg slice=all AUC real=0.8000' in dom
    assert "<b>produce</b>" not in dom  # a category name is text, never markup
    # The escaped slice name is text in the parsed page, never an element.
    assert "<script" not in dom
    assert "category:&lt;script&gt;" in dom
    assert _page_errors(result.stderr, report) == []


def test_report_images_decode_in_chromium(report, tmp_path):
    harness = tmp_path / "harness.html"
    harness.write_text(HARNESS.replace("REPORT_URL", html.escape(report.as_uri())), "utf-8")
    result = _run_chromium(
        tmp_path, "images", ["--allow-file-access-from-files", "--dump-dom"], harness.as_uri()
    )
    match = re.search(r'<pre id="result">(.*?)</pre>', result.stdout, re.S)
    assert match, result.stdout
    text = html.unescape(match.group(1))
    assert text.startswith("["), text
    images = json.loads(text)
    assert {image["figure"] for image in images} == FIGURE_IDS
    page = report.read_text(encoding="utf-8")
    sizes = dict(
        re.findall(
            r'<figure id="([\w-]+)"><img alt="[^"]*" src="data:image/png;base64,([^"]+)"', page
        )
    )
    for image in images:
        assert image["complete"] and image["alt"], image
        assert (image["width"], image["height"]) == _png_size(sizes[image["figure"]]), image
        assert image["colors"] > 16, f"{image['figure']} decoded to a near-blank image: {image}"
    assert _page_errors(result.stderr, report) == []


def test_report_screenshot_in_chromium(report, tmp_path):
    shot = tmp_path / "shot.png"
    result = _run_chromium(
        tmp_path,
        "screenshot",
        [f"--screenshot={shot}", "--window-size=1200,4000"],
        report.as_uri(),
    )
    assert shot.exists(), result.stderr
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape == (4000, 1200, 3)
    non_white = (pixels < 240).any(axis=2).mean()
    colors = np.unique(pixels.reshape(-1, 3)[::13], axis=0)
    assert non_white > 0.05, f"screenshot is nearly blank ({non_white:.1%} ink)"
    assert len(colors) > 100, f"screenshot has only {len(colors)} colours: plots did not render"
    assert _page_errors(result.stderr, report) == []
