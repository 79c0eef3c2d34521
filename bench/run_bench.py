"""Measure the course against its time budgets and write bench/RESULTS.md.

* every notebook, run top to bottom in a fresh kernel, in the smoke and cpu profiles, the book
  profile where a notebook has its own book sizes, and gpu where CUDA exists, against the
  budgets: smoke 90 s, cpu 5 min, book 20 min, gpu 10 min;
* which notebooks' stored outputs are stale (``make stale``);
* the README's test command from a fresh clone, installs included (budget 20 min): the clone
  gets its own .venv, so pip's wheel cache on this machine is the only thing carried over.

    make bench                      # everything
    .venv/bin/python bench/run_bench.py --notebooks 07_wgan 08_conditional_gan

With ``--notebooks``, only those notebooks are re-run: the rows of the other notebooks are kept
from the previous RESULTS.md with the time they were measured (its "measured" column), so a
partial run never erases earlier measurements.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from course_lib.authoring.execution import data_setting, execute_notebook, machine_description
from course_lib.authoring.staleness import why_stale
from course_lib.runtime.profiles import NOTEBOOK_SETTINGS

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BUDGETS = {"smoke": 90, "cpu": 300, "book": 1200, "gpu": 600}
TEST_COMMAND_BUDGET = 20 * 60


RESULTS = ROOT / "bench" / "RESULTS.md"
# | notebook | profile | seconds | budget (s) | verdict | measured |
ROW = re.compile(r"^\| (\d\d_\w+) \| (\w+) \| ([\d.]+) \| \d+ \| [^|]+ \| ([^|]+) \|$")


def now() -> str:
    return f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"


def earlier_rows(path: Path = RESULTS) -> list[tuple[str, str, float, str]]:
    """(notebook, profile, seconds, measured) rows of an earlier RESULTS.md; none without one."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line.strip())
        if match:
            rows.append((match[1], match[2], float(match[3]), match[4].strip()))
    return rows


def merged(new_rows, old_rows, existing: list[str]) -> list[tuple[str, str, float, str]]:
    """New rows replace those of the same (notebook, profile); rows of deleted notebooks go."""
    rows = {(row[0], row[1]): row for row in old_rows if row[0] in existing}
    rows.update({(row[0], row[1]): row for row in new_rows})
    return sorted(rows.values(), key=lambda row: (row[0], list(BUDGETS).index(row[1])))


def profiles_of(name: str) -> list[str]:
    """The profiles worth timing for notebook ``name``: book only where its sizes are its own."""
    settings = NOTEBOOK_SETTINGS[name]
    own_book = settings["book"] is not settings["cpu"]
    gpu = torch.cuda.is_available()
    return ["smoke", "cpu"] + (["book"] if own_book else []) + (["gpu"] if gpu else [])


def stale_lines() -> list[str]:
    """The `make stale` report, as lines of the results file."""
    reasons = {path.stem: why_stale(path) for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))}
    stale = [f"- {name}: {reason}" for name, reason in reasons.items() if reason]
    if not stale:
        return [
            "Stored outputs (`make stale`): every notebook's outputs come from the code now "
            "in course_lib."
        ]
    return [
        "Stored outputs (`make stale`): these predate a change to the code they import:",
        *stale,
    ]


def time_notebooks(names: list[str]) -> list[tuple[str, str, float, str]]:
    rows = []
    for name in names:
        for profile in profiles_of(name):
            print(f"bench: {name} in profile '{profile}' ...", flush=True)
            result = execute_notebook(ROOT / "notebooks" / f"{name}.ipynb", profile)
            rows.append((name, profile, result.seconds, now()))
            print(f"bench:   {result.seconds:.1f} s (budget {BUDGETS[profile]} s)", flush=True)
    return rows


def time_fresh_clone_test() -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as folder:
        clone = Path(folder) / "course"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        print(f"bench: `make test` in a fresh clone at {clone} ...", flush=True)
        began = time.perf_counter()
        completed = subprocess.run(
            ["make", "test"], cwd=clone, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        return time.perf_counter() - began, completed.returncode


def verdict(seconds: float, budget: float) -> str:
    return "within budget" if seconds <= budget else "OVER BUDGET"


def write_results(notebook_rows, clone_row) -> Path:
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` on {now()}.",
        f"Machine: {machine_description()}. Data: {data_setting()}.",
        "Each notebook ran top to bottom in a fresh kernel; times are wall-clock seconds. A "
        "partial run",
        "(`--notebooks`) keeps the other rows from the previous file, with the time they were "
        "measured.",
        "",
        "| notebook | profile | seconds | budget (s) | verdict | measured |",
        "| --- | --- | ---: | ---: | --- | --- |",
    ]
    for name, profile, seconds, measured in notebook_rows:
        lines.append(
            f"| {name} | {profile} | {seconds:.1f} | {BUDGETS[profile]} | "
            f"{verdict(seconds, BUDGETS[profile])} | {measured} |"
        )
    if clone_row is not None:
        seconds, returncode = clone_row
        status = "passed" if returncode == 0 else f"FAILED (exit {returncode})"
        lines += [
            "",
            "| test command from a fresh clone (installs included) | seconds | budget (s) | "
            "result |",
            "| --- | ---: | ---: | --- |",
            f"| `git clone` + `make test` | {seconds:.0f} | {TEST_COMMAND_BUDGET} | {status}, "
            f"{verdict(seconds, TEST_COMMAND_BUDGET)} |",
            "",
            "The clone builds its own `.venv`; pip reuses this machine's download cache, so a "
            "first",
            "install on a new machine adds the download time of the wheels.",
        ]
    lines += ["", *stale_lines()]
    lines += [
        "",
        "Notebooks 03-06 load the frozen attribute and digit classifiers from the cache "
        "(`.cache/` or",
        "`$COURSE_CACHE_DIR`). On a machine without that cache, the first cpu run trains them "
        "first:",
        "about 58 s for the attribute judge and 11-13 s for the digit judge on this machine.",
        "Other benchmarks: `make bench-rbm` (bench/RESULTS_RBM.md), `make bench-gan` "
        "(bench/RESULTS_GAN.md),",
        "`make bench-wgan` (bench/RESULTS_WGAN.md).",
    ]
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return RESULTS


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--notebooks", nargs="*", help="names like 01_autoencoder (default: all)")
    parser.add_argument("--skip-fresh-clone", action="store_true")
    args = parser.parse_args()
    existing = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    unknown = sorted(set(args.notebooks or []) - set(existing))
    if unknown:
        parser.error(f"no notebooks/{unknown[0]}.ipynb; choose from {', '.join(existing)}")
    notebook_rows = merged(time_notebooks(args.notebooks or existing), earlier_rows(), existing)
    clone_row = None if args.skip_fresh_clone else time_fresh_clone_test()
    print(f"bench: results written to {write_results(notebook_rows, clone_row)}")


if __name__ == "__main__":
    main()
