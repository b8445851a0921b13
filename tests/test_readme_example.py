"""The README's "Write your own experiment" example, run as a new user would: its files copied
into an empty folder outside this repository (no conftest.py, no fixtures/), the installed
plugin only (a fresh pytest session in this process, lmgate from its entry point: two
subprocesses re-imported torch for 11 of this test's 26 s), the embedded models."""

import csv
import json
import random
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.all_cores

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLE = re.compile(r"<!-- example: (?P<name>\S+) -->\n```\w*\n(?P<body>.*?)```", re.S)


def readme_example() -> dict[str, str]:
    files = {m["name"]: m["body"] for m in EXAMPLE.finditer(README.read_text(encoding="utf-8"))}
    assert set(files) == {"pyproject.toml", "test_reviews.py"}, sorted(files)
    return files


def write_reviews(path: Path, n: int = 400, seed: int = 0) -> None:
    """Mixed product reviews: an impression opposite to the verdict, and the verdict told by
    what the buyer did (kept it and bought another, or sent it back)."""
    rng = random.Random(seed)
    things = ["blender", "headphones", "backpack", "lamp", "kettle", "keyboard", "tent",
              "camera", "vacuum", "printer"]
    impressions = {1: ["The packaging was torn and ugly", "Delivery took three weeks",
                       "The manual is confusing", "It is louder than I hoped"],
                   0: ["The box looked great", "I loved the colour at first",
                       "Delivery was fast and friendly", "The price seemed like a bargain"]}
    verdicts = {1: ["I bought a second one for my sister", "I use it every day now",
                    "I would order it again", "I kept it"],
                0: ["I sent it back the next day", "I asked for a refund",
                    "it is in the bin now", "I returned it"]}
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, ["text", "label"])
        writer.writeheader()
        for i in range(n):
            label = i % 2
            writer.writerow({"text": f"{rng.choice(impressions[label])}. The "
                                     f"{rng.choice(things)}? {rng.choice(verdicts[label])}.",
                             "label": ["negative", "positive"][label]})


def test_readme_example_runs_outside_the_repo(pytester: pytest.Pytester):
    for name, body in readme_example().items():
        (pytester.path / name).write_text(body, encoding="utf-8")
    write_reviews(pytester.path / "reviews.csv")
    assert not (pytester.path / "conftest.py").exists()
    assert Path(__file__).resolve().parents[1] not in pytester.path.parents

    first = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--lmgate-baseline",
                                          "baselines/main.json", "--lmgate-update-baseline")
    first.assert_outcomes(passed=1)
    rows = [json.loads(line) for line in
            (pytester.path / "lmgate-results" / "results.jsonl").read_text().splitlines()]
    by_name = {row["result"]: row for row in rows}
    assert set(by_name) == {"fine-tuned encoder", "zero-shot"}
    assert by_name["fine-tuned encoder"]["params"]["llm"] == "smollm2-135m-instruct"
    assert by_name["fine-tuned encoder"]["metrics"]["macro_f1"] > by_name["zero-shot"]["metrics"]["macro_f1"]
    assert (pytester.path / "baselines" / "main.json").exists()

    # The gate on an unchanged rerun: everything from the cache, no regression.
    second = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--lmgate-baseline",
                                           "baselines/main.json")
    second.assert_outcomes(passed=1)
    second.stdout.fnmatch_lines(["*no regression beyond noise*"])
    rerun = [json.loads(line) for line in
             (pytester.path / "lmgate-results" / "results.jsonl").read_text().splitlines()]
    assert all(row["info"]["cache_hit"] for row in rerun)
