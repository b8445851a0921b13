"""Fuzzing what users hand in (issue 30, item 7): baseline files, results folders for
`lmgate compare`/`merge`, pyproject profile tables. Each property: a clear error or a correct
result, and nothing lost (the inputs are never changed)."""

import json

from hypothesis import HealthCheck, given, settings, strategies as st

from lmgate.cli import main as lmgate_cli
from lmgate.core.errors import ConfigError
from lmgate.core.profiles import profiles_from_tables
from lmgate.gate.baseline import read_baseline
from lmgate.gate.decide import compare

FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8)
entry = st.fixed_dictionaries(
    {"value": scalars, "values": st.one_of(st.lists(scalars, max_size=3), scalars),
     "seeds": st.one_of(st.lists(scalars, max_size=3), scalars)},
    optional={"ci": st.one_of(st.none(), st.lists(scalars, max_size=3)), "n": scalars,
              "higher_is_better": scalars, "data_fingerprint": scalars})


@FUZZ
@given(doc=st.one_of(json_values, st.fixed_dictionaries(
    {"lmgate_baseline": st.sampled_from([1, 2, "1"]),
     "entries": st.one_of(json_values, st.dictionaries(st.text(min_size=1, max_size=12), entry,
                                                       max_size=3))})))
def test_fuzz_baseline_files(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("b") / "main.json"
    text = json.dumps(doc)
    path.write_text(text)
    try:
        found, _ = read_baseline(path)
    except ConfigError as exc:
        assert str(path) in str(exc)
        return
    finally:
        assert path.read_text() == text
    # Accepted: every number in it is one the gate can judge, and comparing it with itself
    # passes (or compares nothing and says so).
    report = compare(found, found)
    assert all(c.status in ("within-noise", "not-gated") for c in report.checks)


rows = st.lists(st.fixed_dictionaries(
    {"nodeid": st.sampled_from(["t.py::a", "t.py::b[x|y]", "t.py::c"]),
     "result": st.sampled_from(["m", "=cmd|x", "<b>r</b>"]),
     "record_id": st.text(min_size=1, max_size=4),
     "params": st.dictionaries(st.sampled_from(["seed", "model"]), scalars, max_size=2),
     "metrics": st.dictionaries(st.sampled_from(["accuracy", "macro_f1", "wall_s"]), scalars,
                                max_size=2),
     "info": st.just({})}), max_size=4)


@FUZZ
@given(old=st.one_of(rows, json_values), new=rows)
def test_fuzz_results_folders_for_compare_and_merge(tmp_path_factory, old, new):
    root = tmp_path_factory.mktemp("r")
    folders = []
    for name, content in (("old", old), ("new", new)):
        folder = root / name
        folder.mkdir()
        lines = content if isinstance(content, list) else [content]
        (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
        folders.append(folder)
    before = {p: p.read_bytes() for f in folders for p in f.iterdir()}
    try:
        code = lmgate_cli(["compare", str(folders[0]), str(folders[1])])
    except SystemExit as stop:
        code = stop.code
    assert code in (0, 1, 2)
    try:
        code = lmgate_cli(["merge", *map(str, folders), "--out", str(root / "merged")])
    except SystemExit as stop:
        code = stop.code
    assert code in (0, 2)
    assert {p: p.read_bytes() for f in folders for p in f.iterdir()} == before


tables = st.dictionaries(st.sampled_from(["smoke", "paper", "x", "y"]), st.one_of(
    json_values, st.fixed_dictionaries({}, optional={
        "extends": scalars, "description": scalars, "claims": scalars,
        "train": st.one_of(scalars, st.dictionaries(
            st.sampled_from(["epochs", "learning_rate", "batch_size", "warmup_ratio",
                             "launcher", "group_by_length", "bogus"]), scalars, max_size=3)),
        "studies": st.one_of(scalars, st.dictionaries(st.text(max_size=4), json_values,
                                                      max_size=2))})), max_size=3)


@FUZZ
@given(tables=tables)
def test_fuzz_profile_tables(tables):
    try:
        profiles = profiles_from_tables(tables, "pyproject.toml")
    except ConfigError:
        return
    for profile in profiles.values():   # accepted: settings of the right types and ranges
        train = profile.train
        assert isinstance(train.epochs, int) and train.epochs >= 1
        assert 0 <= train.warmup_ratio <= 1 and train.launcher in ("torchrun", "accelerate")
        assert all(isinstance(k, dict) or hasattr(k, "items") for k in profile.studies.values())
