"""RBM training throughput: course_lib against scikit-learn's BernoulliRBM.

The results are written to bench/RESULTS_RBM.md.

Both train by persistent CD-1 with the same data, hidden size, epochs, batch size and learning
rate (``course_lib.baselines.sklearn_rbm.compare_with_sklearn``); both are scored with the same
exact pseudo-log-likelihood on held-out images. Each setting runs ``--repeats`` times and the median
time is reported, so one slow run (another process on the machine) does not decide the ratio.

    make bench-rbm
    .venv/bin/python bench/rbm_vs_sklearn.py --repeats 1 --train 2000
"""

from __future__ import annotations

import argparse
import statistics
from datetime import datetime, timezone
from pathlib import Path

from course_lib.authoring.execution import data_setting, machine_description
from course_lib.baselines.sklearn_rbm import SklearnComparison, compare_with_sklearn
from course_lib.data.mnist import binarized_mnist

ROOT = Path(__file__).resolve().parent.parent
# (hidden units, batch size, epochs): the notebook's setting, scikit-learn's default batch,
# smaller models.
SETTINGS = [(500, 100, 5), (500, 10, 1), (256, 100, 5), (64, 100, 5)]


def run(
    train, held_out, hidden: int, batch: int, epochs: int, repeats: int
) -> list[SklearnComparison]:
    return [
        compare_with_sklearn(
            train,
            held_out,
            n_hidden=hidden,
            epochs=epochs,
            batch_size=batch,
            learning_rate=0.05,
            seed=seed,
        )
        for seed in range(repeats)
    ]


def write_results(rows: list[list[SklearnComparison]], source: str, repeats: int) -> Path:
    first = rows[0][0]
    lines = [
        "# RBM training throughput: course_lib vs scikit-learn",
        "",
        f"Written by `make bench-rbm` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}.",
        f"Machine: {machine_description()}; torch threads {first.torch_threads}, NumPy BLAS "
        f"threads {first.blas_threads}.",
        f"Data: {source} ({data_setting()}).",
        f"Both train by persistent CD-1 at learning rate 0.05; times are medians of {repeats} "
        f"runs (seeds 0..{repeats - 1});",
        "pseudo-log-likelihood (nats per image, exact over all pixels, 500 held-out images) is "
        "the mean over the runs.",
        "",
        "| hidden | batch | epochs | course_lib s | scikit-learn s | course images/s | "
        "scikit-learn images/s | speed ratio | course PLL | scikit-learn PLL |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for runs in rows:
        r = runs[0]
        course = statistics.median(x.course_seconds for x in runs)
        sklearn = statistics.median(x.sklearn_seconds for x in runs)
        images = r.train_rows * r.epochs
        course_pll = statistics.mean(x.course_pseudo_log_likelihood for x in runs)
        sklearn_pll = statistics.mean(x.sklearn_pseudo_log_likelihood for x in runs)
        lines.append(
            f"| {r.n_hidden} | {r.batch_size} | {r.epochs} | {course:.2f} | {sklearn:.2f} | "
            f"{images / course:,.0f} | {images / sklearn:,.0f} | {sklearn / course:.2f}x | "
            f"{course_pll:.1f} | {sklearn_pll:.1f} |"
        )
    lines += [
        "",
        "Speed ratio = scikit-learn's time / course_lib's time (above 1: the course is faster).",
    ]
    path = ROOT / "bench" / "RESULTS_RBM.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train", type=int, default=8_000, help="training images (default 8,000)")
    args = parser.parse_args()
    data = binarized_mnist(args.train, 500, seed=0)
    train, held_out = data.train_images.flatten(1), data.test_images.flatten(1)  # (N, 784)
    rows = []
    for hidden, batch, epochs in SETTINGS:
        print(
            f"bench-rbm: {hidden} hidden, batch {batch}, {epochs} epochs x {args.repeats} ...",
            flush=True,
        )
        rows.append(run(train, held_out, hidden, batch, epochs, args.repeats))
    print(f"bench-rbm: results written to {write_results(rows, data.short_source, args.repeats)}")


if __name__ == "__main__":
    main()
