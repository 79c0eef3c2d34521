"""Uncertainty of measured numbers: standard errors over seeds and bootstrap intervals.

A difference between two models is a difference only when it is larger than the noise of its
measurement. Two sources of noise are covered here:

- training noise: the same recipe run with several seeds; ``mean_and_standard_error`` of the
  per-seed results;
- evaluation noise: a finite held-out set; ``paired_bootstrap``, a percentile bootstrap interval
  (Efron and Tibshirani 1993) that resamples the same rows of every column, e.g. per-image
  errors of two models on the same held-out images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class Interval:
    """An estimate with a confidence interval [low, high] at ``level`` (e.g. 0.95)."""

    estimate: float
    low: float
    high: float
    level: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high

    def format(self, spec: str = ".4f") -> str:
        """For example '0.0120 [0.0118, 0.0122]'."""
        return f"{self.estimate:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"


def mean_and_standard_error(values: torch.Tensor | list[float]) -> tuple[float, float]:
    """Mean and standard error s / sqrt(n) (s with n - 1) of per-seed results; NaN SE for n = 1."""
    x = torch.as_tensor(values, dtype=torch.float64).flatten()
    if len(x) == 0:
        raise ValueError("mean_and_standard_error needs at least one value, got none.")
    if len(x) == 1:
        return x.item(), math.nan
    return x.mean().item(), (x.std(correction=1) / math.sqrt(len(x))).item()


def _percentile_interval(estimate: float, replicates: torch.Tensor, level: float) -> Interval:
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}.")
    tail = (1 - level) / 2
    low, high = torch.quantile(replicates, torch.tensor([tail, 1 - tail], dtype=torch.float64))
    return Interval(estimate, low.item(), high.item(), level)


def _check_resamples(resamples: int) -> None:
    if resamples < 2:
        raise ValueError(f"resamples must be at least 2, got {resamples!r}.")


def paired_bootstrap(
    statistic: Callable[..., torch.Tensor | float],
    *columns: torch.Tensor,
    resamples: int = 1000,
    level: float = 0.95,
    generator: torch.Generator | None = None,
) -> Interval:
    """Percentile interval of ``statistic(*columns)``, resampling the same rows of every column.

    Use it for per-example scores of several models on the same held-out examples, e.g. the
    ratio of two mean errors, ``lambda a, b: a.mean() / b.mean()``: pairing keeps the part of
    the noise that the models share (hard images are hard for both) out of the interval.
    """
    _check_resamples(resamples)
    n = len(columns[0])
    if n == 0 or any(len(column) != n for column in columns):
        raise ValueError(
            "paired_bootstrap needs columns with the same, non-zero number of rows, got "
            f"{[len(column) for column in columns]}."
        )
    columns = tuple(torch.as_tensor(column, dtype=torch.float64) for column in columns)
    estimate = float(statistic(*columns))
    replicates = torch.empty(resamples, dtype=torch.float64)
    for i in range(resamples):
        rows = torch.randint(n, (n,), generator=generator)
        replicates[i] = float(statistic(*(column[rows] for column in columns)))
    return _percentile_interval(estimate, replicates, level)
