"""What `pip install lmgate` costs, for two versions of lmgate in the same run: the install's
wall time, the size of the environment's site-packages, the number of packages, and the
plugin's import time (as pytest loads it: the package and its hook modules, pytest imported
first). Each version goes into a fresh virtual environment (no system site packages) that
already holds torch, which is installed untimed first (served locally).

    python benchmarks/install_footprint.py --before /tmp/before --after HEAD

A version is a folder (installed as it is) or a git revision of this repository (exported
with `git archive` first, so uncommitted edits of the working tree do not count).
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import report  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PLUGIN_IMPORT = ("import importlib, sys, time\nimport pytest\nloaded = len(sys.modules)\n"
                 "t = time.perf_counter()\nimport lmgate.plugin as plugin\n"
                 "for name in plugin.pytest_plugins:\n    importlib.import_module(name)\n"
                 "print(time.perf_counter() - t, len(sys.modules) - loaded)")


def run(*argv: str | Path, cwd: Path | None = None) -> str:
    """stdout of `argv`; its output is shown when it fails."""
    done = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(map(str, argv))} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def commit_of(version: str) -> str:
    """The commit `version` is: a folder's checked-out one, or a revision of this repository."""
    if Path(version).is_dir():
        return subprocess.run(["git", "-C", version, "rev-parse", "HEAD"], capture_output=True,
                              text=True).stdout.strip() or "not a git checkout"
    return run("git", "-C", REPO, "rev-parse", version).strip()


def source(version: str, commit: str, folder: Path) -> Path:
    """A copy in `folder` of the tree to install for `version` (pip builds in the tree it is
    given): the folder's files, or the commit's (`git archive`)."""
    if Path(version).is_dir():
        shutil.copytree(version, folder, ignore=shutil.ignore_patterns(
            ".git", "build", "*.egg-info", "__pycache__", ".lmgate-cache", "lmgate-results"))
        return folder
    folder.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def footprint(venv: Path) -> tuple[int, int, set[str]]:
    """Bytes on disk of the environment's site-packages (du), its packages, and their names."""
    python = venv / "bin" / "python"
    site = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    size = int(run("du", "-sk", site).split()[0]) * 1024
    names = {p["name"].lower() for p in json.loads(run(python, "-m", "pip", "list",
                                                       "--format=json"))}
    return size, len(names), names


def measure(label: str, version: str, commit: str, torch: str, work: Path, imports: int,
            round_: int) -> tuple[dict, set]:
    """One fresh environment with torch, then lmgate `version` installed into it, measured."""
    folder = source(version, commit, work / f"src-{label}-{round_}")
    venv = work / f"venv-{label}-{round_}"
    run(sys.executable, "-m", "venv", venv)   # without system site packages
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-cache-dir"]
    run(*pip, f"torch=={torch}")
    base_size, base_count, _ = footprint(venv)
    start = time.perf_counter()
    run(*pip, folder)
    seconds = time.perf_counter() - start
    size, count, names = footprint(venv)
    timings = [run(venv / "bin" / "python", "-c", PLUGIN_IMPORT, cwd=work).split()
               for _ in range(imports)]
    shutil.rmtree(venv)
    shutil.rmtree(folder)
    return {"version": label, "round": round_, "commit": commit[:12],
            "pip_install_s": round(seconds, 1),
            "site_packages_mb": round(size / 2**20, 1),
            "added_to_torch_mb": round((size - base_size) / 2**20, 1),
            "packages": count, "added_to_torch": count - base_count,
            "plugin_import_ms": round(1000 * min(float(t) for t, _ in timings), 1),
            "plugin_modules": int(timings[0][1])}, names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="/tmp/before", help="folder or git revision")
    parser.add_argument("--after", default="HEAD", help="folder or git revision")
    parser.add_argument("--torch", default="2.13.0", help="torch installed first, untimed")
    parser.add_argument("--imports", type=int, default=5, help="plugin imports (best of)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="before/after pairs, the order swapped every other round")
    args = parser.parse_args()
    versions = [("before", args.before), ("after", args.after)]
    commits = {label: commit_of(version) for label, version in versions}
    with tempfile.TemporaryDirectory(prefix="install-footprint-") as tmp:
        rows, names = [], {}
        for round_ in range(1, args.rounds + 1):
            for label, version in versions[::1 if round_ % 2 else -1]:
                row, names[label] = measure(label, version, commits[label], args.torch,
                                            Path(tmp), args.imports, round_)
                rows.append(row)
    best = {label: min(r["pip_install_s"] for r in rows if r["version"] == label)
            for label, _ in versions}
    report("install_footprint", rows, {
        "command": "python benchmarks/install_footprint.py " + " ".join(sys.argv[1:]),
        "date": datetime.date.today().isoformat(),
        "packages_left_out": sorted(names["before"] - names["after"]),
        "packages_added": sorted(names["after"] - names["before"]),
        "pip_install_s_best": best, "speedup_install": best["before"] / best["after"]})


if __name__ == "__main__":
    main()
