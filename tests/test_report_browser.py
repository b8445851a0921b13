"""The report as a reader gets it: one section per study with its plots, every plot a real
image, and the page rendered by headless Chromium without console errors (screenshot kept)."""

import base64
import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

TWO_STUDIES = {
    "test_curves": '''
"""A toy learning-curve study.

Claim: more data helps in both languages.
"""
import numpy as np
import pytest
from lmgate import EvalResult, assert_better

pytestmark = pytest.mark.study("curves")
y = np.array([0, 1, 2] * 60)

def noisy(every):
    return np.where(np.arange(len(y)) % every == 0, (y + 1) % 3, y)

def test_more_data_helps(record):
    for lang in ("en", "fr"):
        small = EvalResult(f"{lang}@30", ("neg", "neu", "pos"), y, noisy(2),
                           params={"model": "toy", "lang": lang, "n_per_class": 30})
        large = EvalResult(f"{lang}@200", ("neg", "neu", "pos"), y, noisy(7),
                           params={"model": "toy", "lang": lang, "n_per_class": 200})
        record(small, large)
        assert_better(large, small)
''',
    "test_transfer": '''
"""A toy transfer study.

Claim: a model is best in its own language.
"""
import numpy as np
import pytest
from lmgate import EvalResult

pytestmark = pytest.mark.study("transfer")
y = np.array([0, 1] * 50)

def test_transfer_grid(record):
    for train in ("en", "fr"):
        for test in ("en", "fr"):
            pred = y if train == test else np.where(np.arange(100) % 3 == 0, 1 - y, y)
            record(EvalResult(f"{train}->{test}", ("neg", "pos"), y, pred,
                              params={"model": "toy", "train_lang": train, "test_lang": test}))
''',
}
# Appended to a copy of the page: after load, count the images that decoded.
IMAGE_CHECK = ('<script>window.addEventListener("load", function () { var ok = 0, all = '
               'document.images; for (var i = 0; i < all.length; i++) { if (all[i].complete && '
               'all[i].naturalWidth > 0) ok++; } document.body.setAttribute("data-images", ok + '
               '"/" + all.length); });</script>')
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--enable-logging=stderr", "--v=0",
                  "--virtual-time-budget=3000")


@pytest.fixture
def two_study_report(pytester) -> Path:
    pytester.makepyfile(**TWO_STUDIES)
    pytester.runpytest("--lmgate-results-dir", "out", "--lmgate-plots=on").assert_outcomes(passed=2)
    return pytester.path / "out"


def test_each_study_section_carries_its_own_plots(two_study_report):
    summary = (two_study_report / "summary.md").read_text()
    curves, transfer = summary.index("### test_curves.py"), summary.index("### test_transfer.py")
    results = len(summary)
    images = {m.group(1): m.start() for m in re.finditer(r"!\[[^\]]*\]\(([^)]+\.png)\)", summary)}
    curve_plots = [p for p in images if p.startswith("plots/test_curves/")]
    transfer_plots = [p for p in images if p.startswith("plots/test_transfer/")]
    assert {Path(p).name for p in curve_plots} >= {
        "learning_curves_toy.png", "languages_toy.png", "confusion_test_more_data_helps.png"}
    assert {Path(p).name for p in transfer_plots} >= {"transfer_toy.png"}
    assert all(curves < images[p] < transfer for p in curve_plots)    # under their own study
    assert all(transfer < images[p] < results for p in transfer_plots)
    assert "## Plots" not in summary and "## Results" not in summary   # nothing left over
    tables = [summary.index(f"#### All recorded metrics of {study}")
              for study in ("test_curves.py", "test_transfer.py")]
    assert curves < tables[0] < transfer < tables[1]                     # each study's table


def test_every_plot_in_the_page_is_an_image(two_study_report):
    from matplotlib.image import imread

    page = (two_study_report / "report.html").read_text()
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(uris) >= 5 and 'src="plots/' not in page
    for data in uris:
        pixels = imread(io.BytesIO(base64.b64decode(data)), format="png")
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no Chromium here (.ci/run installs Debian's chromium package)")


def render(page: Path, tmp_path: Path) -> tuple[str, list[str]]:
    """(the DOM after load, the console messages Chromium logged) of a local page."""
    done = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    return done.stdout, [l for l in done.stderr.splitlines() if ":CONSOLE" in l]


def test_the_checker_sees_broken_images_and_script_errors(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><img src="data:image/png;base64,AAAA">'
                    f'<script>notDefined();</script>{IMAGE_CHECK}</body></html>')
    dom, console = render(page, tmp_path)
    assert 'data-images="0/1"' in dom
    assert any("notDefined" in line for line in console)


def test_report_renders_in_headless_chromium(two_study_report, tmp_path):
    page = tmp_path / "report.html"
    page.write_text((two_study_report / "report.html").read_text().replace(
        "</body>", IMAGE_CHECK + "</body>"))
    dom, console = render(page, tmp_path)
    found = re.search(r'data-images="(\d+)/(\d+)"', dom)
    assert found and found.group(1) == found.group(2) and int(found.group(2)) >= 5, found
    assert console == []
    assert dom.count("<h3") == 2 and "<details>" in dom
    shot = Path(os.environ.get("LMGATE_TEST_ARTIFACTS", tmp_path)) / "report_screenshot.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                    f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 10_000
