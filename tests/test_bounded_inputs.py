"""Every input read once, bounded, and never guessed (issue 51, item 5): baselines, results
folders and data files through one bounded JSON reader; seeds and shards range-checked
before any work; label names and ids never guessed; duplicate columns, keys and entries
refused; profiles resolved independently of their order in the file."""

import json
import os
import threading

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from lmgate.core.bounded_json import read_json_bounded, read_jsonl_bounded
from lmgate.core.errors import ConfigError, DataError
from lmgate.core.profiles import BUILTIN, profiles_from_tables
from lmgate.data.loaders import labeled, read_table
from lmgate.gate.baseline import environment_changes, load_baseline, read_baseline
from lmgate.gate.decide import compare
from lmgate.gate.render import markdown
from lmgate.plugin.options import SEED_LIMIT, parse_seed
from lmgate.plugin.scaleout import MAX_SHARDS, parse_shard

FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
KEY = "test_study.py::test_x::model::accuracy"
ENTRY = {"value": 0.9, "values": [0.9], "seeds": [0], "ci": [0.85, 0.95], "n": 400}


def baseline_text(entry_text: str = json.dumps(ENTRY), environment: str = "{}") -> str:
    return ('{"lmgate_baseline": 1, "environment": %s, "entries": {"%s": %s}}'
            % (environment, KEY, entry_text))


# ---- the reader -----------------------------------------------------------------------------
BAD_JSON = [
    ('{"n": %s}' % ("7" * 401), "an integer of 401 digits"),
    ('{"n": %s}' % ("7" * 5001), "an integer of 5001 digits"),
    ("[" * 100_000 + "]" * 100_000, "nested more than 64 levels deep"),
    ('{"a": 1, "a": 2}', "the key 'a' appears twice"),
    ('{"a": NaN}', "NaN is not a number"),
    ('{"a": 1e999}', "out of range"),
    ('["\\ud800"]', "lone surrogate"),
    ("{", "not valid JSON"),
]


@pytest.mark.parametrize("text, words", BAD_JSON, ids=[w for _, w in BAD_JSON])
def test_the_reader_refuses_what_it_cannot_hold_naming_the_file(tmp_path, text, words):
    path = tmp_path / "in.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        read_json_bounded(path, what="input")
    assert f"input {path}" in str(error.value) and words in str(error.value)
    (tmp_path / "in.jsonl").write_text('{"ok": 1}\n' + text + "\n")
    with pytest.raises(ConfigError, match="line 2"):
        read_jsonl_bounded(tmp_path / "in.jsonl", what="input")


def test_the_reader_refuses_folders_pipes_and_oversized_files(tmp_path):
    with pytest.raises(ConfigError, match="is a folder"):
        read_json_bounded(tmp_path, what="input")
    read, write = os.pipe()
    os.close(write)
    try:
        with pytest.raises(ConfigError, match="FIFO or pipe"):
            read_json_bounded(f"/dev/fd/{read}", what="input")
    finally:
        os.close(read)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)                      # no writer: refused at once, not waited on
    with pytest.raises(ConfigError, match="FIFO or pipe"):
        read_json_bounded(fifo, what="input")
    (tmp_path / "big.json").write_text("[" + "0," * 100 + "0]")
    with pytest.raises(ConfigError, match="more than the 100 bytes"):
        read_json_bounded(tmp_path / "big.json", what="input", max_bytes=100)
    with pytest.raises(FileNotFoundError):
        read_json_bounded(tmp_path / "missing.json", what="input")


# ---- baselines ------------------------------------------------------------------------------
BAD_BASELINES = [
    (baseline_text('{"value": %s, "values": [0.9], "seeds": [0]}' % ("9" * 401)),
     "an integer of 401 digits"),
    (baseline_text('{"value": 0.9, "values": [0.9], "seeds": [0], "n": %s}' % ("1" * 5001)),
     "an integer of 5001 digits"),
    (baseline_text("[" * 100_000 + "]" * 100_000), "nested more than 64 levels deep"),
    (baseline_text(environment='["torch", "2.4"]'), "'environment' must be an object"),
    (baseline_text(environment='{"torch": {"version": [1]}}'), "'environment' must be"),
    (baseline_text('{"value": 0.5, "values": [0.5], "seeds": [0]}, "%s": %s'
                   % (KEY, json.dumps(ENTRY))), "appears twice"),
    (baseline_text('{"value": 0.9, "values": [0.9, 0.9], "seeds": [1, 1]}'),
     "name a seed twice"),
    (baseline_text().replace('"lmgate_baseline": 1', '"lmgate_baseline": true'),
     "is not an lmgate baseline"),
]


@pytest.mark.parametrize("text, words", BAD_BASELINES, ids=[w for _, w in BAD_BASELINES])
def test_a_baseline_lmgate_cannot_hold_is_a_config_error_naming_it(tmp_path, text, words):
    path = tmp_path / "main.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        read_baseline(path)
    assert str(path) in str(error.value) and words in str(error.value)


def test_a_baseline_folder_is_a_config_error(tmp_path):
    (tmp_path / "main.json").mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        read_baseline(tmp_path / "main.json")


def test_duplicate_predictions_of_one_seed_are_refused(tmp_path):
    path = tmp_path / "main.json"
    path.write_text(baseline_text())
    line = json.dumps({"key": KEY.rsplit("::", 1)[0], "seed": 0, "labels": 2,
                       "y_true": [0, 1], "y_pred": [0, 1]})
    (tmp_path / "main.predictions.jsonl").write_text(line + "\n" + line + "\n")
    with pytest.raises(ConfigError, match="line 2.*seed 0: one per seed"):
        read_baseline(path)


json_text = st.recursive(
    st.one_of(st.just("null"), st.just("true"), st.just("NaN"), st.just("-Infinity"),
              st.integers().map(str), st.text(alphabet="0123456789", min_size=300,
                                              max_size=600),
              st.floats(allow_nan=False).map(repr), st.text(max_size=6).map(json.dumps),
              st.just('"\\udc80"')),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + ",".join(xs) + "]"),
        st.lists(st.tuples(st.sampled_from(['"value"', '"values"', '"seeds"', '"n"', '"ci"',
                                            '"environment"', '"entries"', '"x"']), inner),
                 max_size=4).map(lambda kv: "{" + ",".join(f"{k}:{v}" for k, v in kv) + "}"),
        inner.map(lambda x: "[" * 3000 + x + "]" * 3000)),
    max_leaves=6)


@FUZZ
@given(body=st.one_of(st.binary(max_size=64),
                      json_text.map(lambda t: baseline_text(t).encode()),
                      json_text.map(lambda t: baseline_text(environment=t).encode()),
                      json_text.map(lambda t: t.encode())))
def test_fuzz_a_baseline_is_refused_clearly_or_judged(tmp_path_factory, body):
    """Any bytes: a ConfigError naming the file, or a baseline every later step can use
    (compared, its environment diffed, rendered) without an exception."""
    path = tmp_path_factory.mktemp("b") / "main.json"
    path.write_bytes(body)
    try:
        baseline = load_baseline(path)
    except ConfigError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    report = compare(baseline.entries, baseline.entries, baseline.examples, baseline.examples)
    assert report.passed
    environment_changes(baseline.environment, {"torch": "2"})
    markdown(report).encode("utf-8")


small = st.one_of(st.integers(-2, 3), st.none(), st.text(max_size=2), st.booleans(),
                  st.integers(10**18, 10**19))
prediction_line = st.fixed_dictionaries(
    {"key": st.just(KEY.rsplit("::", 1)[0]), "y_true": st.lists(small, max_size=4),
     "y_pred": st.lists(small, max_size=4)},
    optional={"seed": small, "labels": small,
              "label_names": st.one_of(small, st.lists(small, max_size=3)),
              "clusters": st.one_of(small, st.lists(small, max_size=4)),
              "examples": st.one_of(small, st.lists(small, max_size=4))})


@FUZZ
@given(lines=st.lists(prediction_line, min_size=1, max_size=2))
def test_fuzz_baseline_predictions_are_refused_clearly_or_judged(tmp_path_factory, lines):
    """The side file's lines: a ConfigError naming it, or examples the gate's comparison and
    flip report (first seed, against themselves) read without an exception."""
    from lmgate.gate.flips import flips

    folder = tmp_path_factory.mktemp("p")
    (folder / "main.json").write_text(baseline_text())
    (folder / "main.predictions.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in lines))
    try:
        baseline = load_baseline(folder / "main.json")
    except ConfigError as exc:
        assert "main.predictions.jsonl" in str(exc) and "\n" not in str(exc)
        return
    report = compare(baseline.entries, baseline.entries, baseline.examples, baseline.examples)
    assert report.passed
    flips(baseline.examples, baseline.examples)
    markdown(report).encode("utf-8")


@pytest.mark.parametrize("old_pred", [[0, 1, 1, 0], [0, 7, 1, 0]], ids=["in-range", "id-7"])
def test_a_predictions_line_without_a_label_count_is_compared_with_this_runs(tmp_path,
                                                                             old_pred):
    path = tmp_path / "main.json"
    path.write_text(baseline_text())
    (tmp_path / "main.predictions.jsonl").write_text(json.dumps(
        {"key": KEY.rsplit("::", 1)[0], "seed": 0, "y_true": [0, 1, 0, 1],
         "y_pred": old_pred}) + "\n")
    baseline = load_baseline(path)
    now = {KEY.rsplit("::", 1)[0]: [{"seed": 0, "labels": 2, "y_true": [0, 1, 0, 1],
                                     "y_pred": [0, 1, 0, 1]}]}
    report = compare(baseline.entries, baseline.entries, baseline.examples, now)
    assert report.passed and markdown(report)


# ---- the session reads it once, before any test -----------------------------------------------
STUDY = '''
import numpy as np
from lmgate import EvalResult

def test_x(record, lmgate_seed):
    np.random.seed(lmgate_seed)
    y = np.array([0, 1] * 200)
    record(EvalResult("model", ("neg", "pos"), y, y))
'''


def one_line_usage_error(result) -> str:
    """The run stopped before any test, with one lmgate line and no traceback."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    err = result.stderr.str()
    lines = [line for line in err.splitlines() if "lmgate" in line]
    assert len(lines) == 1 and "Traceback" not in err and "INTERNALERROR" not in err, err
    assert "passed" not in result.stdout.str() and "failed" not in result.stdout.str()
    return lines[0]


@pytest.fixture
def study(pytester):
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_study=STUDY)
    return pytester


entry_text = st.one_of(json_text, st.fixed_dictionaries(
    {"value": st.floats(0, 1).map(repr), "values": st.one_of(st.just("[0.9]"), json_text),
     "seeds": st.one_of(st.just("[0]"), json_text)}).map(
        lambda d: "{" + ",".join(f'"{k}":{v}' for k, v in d.items()) + "}"))


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=st.one_of(entry_text.map(baseline_text),
                      json_text.map(lambda t: baseline_text(environment=t)), json_text))
def test_fuzz_a_session_with_any_baseline_stops_at_once_or_judges(study, body):
    """Through a real session: a usage error before any test, or a verdict; never an
    INTERNALERROR or a traceback after the tests ran."""
    (study.path / "b.json").write_text(body, encoding="utf-8", errors="surrogatepass")
    result = study.runpytest("--lmgate-baseline", "b.json")
    if result.ret == pytest.ExitCode.USAGE_ERROR:
        one_line_usage_error(result)
        return
    output = result.stdout.str() + result.stderr.str()
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), output
    assert "INTERNALERROR" not in output and "Traceback" not in output


@pytest.mark.parametrize("text, words", [
    (baseline_text(environment='["torch"]'), "'environment' must be an object"),
    (baseline_text('{"value": %s, "values": [0.9], "seeds": [0]}' % ("9" * 401)),
     "401 digits"),
    (baseline_text("[" * 100_000 + "]" * 100_000), "nested more than"),
], ids=["environment-a-list", "401-digits", "100000-deep"])
def test_a_bad_baseline_stops_the_session_before_any_test(study, text, words):
    (study.path / "b.json").write_text(text)
    assert words in one_line_usage_error(study.runpytest("--lmgate-baseline", "b.json"))


def test_a_baseline_folder_stops_the_session_before_any_test(study):
    (study.path / "b.json").mkdir()
    assert "is a folder" in one_line_usage_error(study.runpytest("--lmgate-baseline", "b.json"))
    assert "is not a regular file" in one_line_usage_error(study.runpytest(
        "--lmgate-baseline", "b.json", "--lmgate-update-baseline", "--lmgate-prune-baseline"))


def test_a_process_substitution_baseline_stops_the_session_before_any_test(study):
    """`--lmgate-baseline <(git show main:baseline.json)`: a pipe reads once; lmgate refused
    it only after the tests ran (the end of the session read it a second time)."""
    assert study.runpytest("--lmgate-baseline", "b.json", "--lmgate-update-baseline").ret == 0
    read, write = os.pipe()
    payload = (study.path / "b.json").read_bytes()
    writer = threading.Thread(target=lambda: (os.write(write, payload), os.close(write)))
    writer.start()
    try:
        line = one_line_usage_error(study.runpytest(f"--lmgate-baseline=/dev/fd/{read}"))
    finally:
        writer.join()
        os.close(read)
    assert "FIFO or pipe" in line and "save it to a file" in line


@pytest.mark.parametrize("args, words", [
    (["--lmgate-seed", "-1"], "--lmgate-seed must be in [0, 4294967295]"),
    (["--lmgate-seed", "12345678901234567890"], "--lmgate-seed must be in"),
    (["--lmgate-seed", "4294967295", "--lmgate-repeats", "2"], "runs seeds past"),
    (["--lmgate-repeats", "100000000"], "--lmgate-repeats must be in [1, 1000]"),
    (["--lmgate-shard", "1/99999999999999999999"], "--lmgate-shard must be I/N"),
    (["--lmgate-shard", "1/10001"], f"N <= {MAX_SHARDS}"),
    (["--lmgate-shard", ""], "--lmgate-shard must be I/N"),
])
def test_seeds_and_shards_out_of_range_stop_the_session_before_any_test(study, args, words):
    assert words in one_line_usage_error(study.runpytest(*args))


@FUZZ
@given(text=st.one_of(st.text(max_size=30), st.integers().map(str),
                      st.tuples(st.integers(-3, 10**25), st.integers(-3, 10**25)).map(
                          lambda t: f"{t[0]}/{t[1]}")))
def test_fuzz_seed_and_shard_texts_are_in_range_or_refused(text):
    try:
        seed = parse_seed(text)
    except ConfigError as exc:
        assert "--lmgate-seed" in str(exc) and len(str(exc)) < 200
    else:
        assert isinstance(seed, int) and 0 <= seed < SEED_LIMIT
    try:
        index, total = parse_shard(text)
    except pytest.UsageError as exc:
        assert "--lmgate-shard" in str(exc) and len(str(exc)) < 200
    else:
        assert 1 <= index <= total <= MAX_SHARDS


# ---- labels: names and ids never guessed ---------------------------------------------------
STARS = ("1", "2", "3", "4", "5")


def table(values) -> pd.DataFrame:
    return pd.DataFrame({"text": [f"t{i}" for i in range(len(values))], "label": values})


def test_digit_label_names_with_a_stray_zero_are_an_error_not_shifted():
    values = ["1", "2", "3", "4", "5"] * 3 + ["0"]
    with pytest.raises(DataError, match="does not guess.*label_name_column='label'"):
        labeled(table(values), STARS)
    assert [STARS[i] for i in labeled(table(values[:-1]), STARS).y] == values[:-1]


def test_digit_label_names_that_read_as_ids_too_are_ambiguous_unless_told():
    values = ["1", "2", "3", "1"]                 # names 1..3, or ids of 2..4
    with pytest.raises(DataError, match="as ids too, but they differ"):
        labeled(table(values), STARS)
    as_names = labeled(table(values), STARS, label_name_column="label")
    as_ids = labeled(table(values), STARS, label_ids=dict(enumerate(STARS)))
    assert [STARS[i] for i in as_names.y] == values
    assert [STARS[i] for i in as_ids.y] == ["2", "3", "4", "2"]
    assert list(labeled(table(["0", "1", "1"]), ("0", "1")).y) == [0, 1, 1]   # the same either way
    assert list(labeled(table(["0", "1", "1"]), ("neg", "pos")).y) == [0, 1, 1]


@FUZZ
@given(labels=st.lists(st.integers(-2, 12).map(str), min_size=2, max_size=6, unique=True),
       values=st.lists(st.integers(-2, 12), min_size=1, max_size=12))
def test_fuzz_digit_label_names_are_read_as_written_or_refused(labels, values):
    values = [str(v) for v in values]
    try:
        data = labeled(table(values), labels)
    except DataError:
        return
    assert [labels[i] for i in data.y] == values


# ---- duplicate columns --------------------------------------------------------------------
@pytest.mark.parametrize("name, content", [
    ("d.csv", "text,label,label\nhello,neg,pos\nbye,pos,neg\n"),
    ("d.tsv", "text\tlabel\ttext\nhello\tneg\tbye\n"),
    ("d.jsonl", '{"text": "hello", "label": "neg", "label": "pos"}\n'),
])
def test_duplicate_columns_in_a_data_file_are_refused(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match="appears twice"):
        labeled(read_table(path), ("neg", "pos"))


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_data_file_that_is_a_folder_or_a_pipe_is_a_data_error(tmp_path, kind):
    path = tmp_path / "train.csv"
    path.mkdir() if kind == "folder" else os.mkfifo(path)
    with pytest.raises(DataError, match="a folder" if kind == "folder" else "not a regular"):
        read_table(path)


def test_a_column_map_that_makes_two_columns_of_one_name_is_refused():
    frame = pd.DataFrame({"text": ["a", "b"], "label": ["neg", "pos"],
                          "stars": ["pos", "neg"]})
    with pytest.raises(DataError, match="'label' appears twice"):
        labeled(frame, ("neg", "pos"), columns={"label": "stars"})
    with pytest.raises(DataError, match="column 'stars' is mapped to"):
        labeled(frame, ("neg", "pos"), columns={"text": "stars", "text_en": "stars"})


# ---- profiles: resolved independently of the file's order ----------------------------------
def test_a_profile_extends_the_projects_override_wherever_it_is_declared():
    tables = {"nightly": {"extends": "smoke"}, "smoke": {"train": {"epochs": 7}}}
    for order in (tables, dict(reversed(tables.items()))):
        profiles = profiles_from_tables(order, "pyproject.toml")
        assert profiles["nightly"].train.epochs == profiles["smoke"].train.epochs == 7
        assert profiles["smoke"].train.learning_rate == BUILTIN["smoke"].train.learning_rate


def test_a_profile_extending_itself_is_a_cycle_not_an_unknown_profile():
    with pytest.raises(ConfigError) as error:
        profiles_from_tables({"x": {"extends": "x"}}, "pyproject.toml")
    assert "extends itself" in str(error.value) and "unknown" not in str(error.value)
    with pytest.raises(ConfigError, match="a -> b -> a"):
        profiles_from_tables({"b": {"extends": "a"}, "a": {"extends": "b"}}, "pyproject.toml")


NAMES = ["smoke", "paper", "a", "b", "c"]


@FUZZ
@given(tables=st.dictionaries(st.sampled_from(NAMES), st.fixed_dictionaries(
    {"train": st.one_of(st.just({}), st.integers(1, 9).map(lambda e: {"epochs": e}))},
    optional={"extends": st.sampled_from(NAMES + ["nowhere"])}), max_size=5),
    data=st.data())
def test_fuzz_profile_tables_resolve_the_same_in_any_order(tables, data):
    order = data.draw(st.permutations(list(tables)))
    results = []
    for names in (list(tables), order):
        try:
            profiles = profiles_from_tables({n: tables[n] for n in names}, "p.toml")
            results.append({n: (p.train.epochs, p.source) for n, p in profiles.items()})
        except ConfigError as exc:
            results.append(str(exc))
    assert results[0] == results[1]
    if isinstance(results[0], str):
        return

    def epochs(name, seen=()):          # the oracle: own setting, else the parent's
        table = tables.get(name)
        if table is None:
            return BUILTIN[name].train.epochs
        if "epochs" in table["train"]:
            return table["train"]["epochs"]
        parent = table.get("extends", name if name in BUILTIN else None)
        if parent is None:
            return type(BUILTIN["smoke"].train)().epochs
        return BUILTIN[name].train.epochs if parent == name else epochs(parent, (*seen, name))

    assert {n: e for n, (e, _) in results[0].items()} == {n: epochs(n) for n in results[0]}


@pytest.mark.parametrize("toml, words", [
    ("[tool.lmgate.profiles.nightly.train]\nepochs = %s\n" % ("9" * 401), "more than 20 digits"),
    ("[tool.lmgate.profiles.nightly.studies.s]\nk = %s\n" % ("1" * 5001), "4300 digits"),
    ("[tool.lmgate.profiles.nightly.studies.s]\nk = %s1%s\n" % ("[" * 100, "]" * 100),
     "nested more than 64"),
    ("[tool.lmgate.profiles.nightly.studies.s]\nk = %s1%s\n" % ("[" * 100_000, "]" * 100_000),
     "nested too deep"),
], ids=["401-digits", "5001-digits", "100-deep", "100000-deep"])
def test_a_pyproject_lmgate_cannot_hold_is_a_config_error(tmp_path, toml, words):
    from lmgate.core.profiles import load_profiles

    (tmp_path / "pyproject.toml").write_text(toml)
    with pytest.raises(ConfigError) as error:
        load_profiles(tmp_path / "pyproject.toml")
    assert "pyproject.toml" in str(error.value) and words in str(error.value)



# ---- results folders (`lmgate compare`, `lmgate merge`) ------------------------------------
ROW = ('{"nodeid": "t.py::a", "result": "m", "record_id": "r1", "params": {"seed": 0}, '
       '"metrics": {"accuracy": %s}, "info": %s}')


@FUZZ
@given(lines=st.lists(st.one_of(
    st.tuples(json_text, json_text).map(lambda t: ROW % t),
    json_text.map(lambda t: ROW % ("0.5", "{}") + "," + t),
    st.binary(max_size=20).map(lambda b: b.decode("latin-1"))), min_size=1, max_size=3))
def test_fuzz_results_folders_are_refused_clearly_or_compared(tmp_path_factory, lines):
    from lmgate.cli import main as lmgate_cli

    root = tmp_path_factory.mktemp("r")
    for name in ("old", "new"):
        (root / name).mkdir()
        (root / name / "results.jsonl").write_bytes(
            "\n".join(lines).encode("utf-8", "surrogatepass") + b"\n")
    assert lmgate_cli(["compare", str(root / "old"), str(root / "new")]) in (0, 1, 2)
    assert lmgate_cli(["merge", str(root / "old"), "--out", str(root / "m")]) in (0, 2)
