"""report.html: one self-contained page from summary.md."""

import base64

from lmgate.report.html import html_report

# A 1x1 PNG.
PIXEL = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwAD"
                         "hgGAWjR9awAAAABJRU5ErkJggg==")


def test_tables_render_and_plots_are_inlined(tmp_path):
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "curve.png").write_bytes(PIXEL)
    summary = ("# lmgate results\n\n| test | macro_f1 |\n|---|---|\n| a<b | 0.5000 |\n"
               "| <script>alert(1)</script> | 1.0 |\n\n<div>raw block</div>\n\n"
               "## Plots\n\n![curve](plots/curve.png)\n\n![gone](plots/missing.png)\n")
    page = html_report(summary, tmp_path)
    assert page.startswith("<!DOCTYPE html>") and "<h1>lmgate results</h1>" in page
    assert "<th>macro_f1</th>" in page and "<td>a&lt;b</td>" in page   # escaped, not markup
    assert f'src="data:image/png;base64,{base64.b64encode(PIXEL).decode()}"' in page
    assert "<script>" not in page and "&lt;script&gt;" in page      # raw HTML is shown as text
    assert "<div>" not in page and "&lt;div&gt;raw block" in page
    assert 'src="plots/missing.png"' in page           # a missing file stays a plain link
    assert 'src="plots/curve.png"' not in page
