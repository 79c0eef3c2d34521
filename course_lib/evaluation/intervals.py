"""Uncertainty of measured numbers: standard errors over seeds and bootstrap intervals.

A difference between two models is a difference only when it is larger than the noise of its
measurement. Two sources of noise are covered here:

- training noise: the same recipe run with several seeds; ``mean_and_standard_error`` of the
  per-seed results;
- evaluation noise: a finite held-out set; percentile bootstrap intervals (Efron and Tibshirani
  1993) that resample the held-out examples with replacement:
  - ``bootstrap_mean``: the mean of per-example values (faces, samples, test images);
  - ``bootstrap_mean_difference``: the mean of ``a - b`` for two methods scored on the same
    examples; its ``verdict`` says 'higher', 'lower' or 'tie';
  - ``paired_bootstrap``: any statistic of several such columns, e.g. a ratio of two mean errors,
    resampling the same rows of every column.
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

    def excludes(self, value: float = 0.0) -> bool:
        """True when ``value`` lies outside the interval (a difference from it is resolved)."""
        return not self.contains(value)

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high

    @property
    def verdict(self) -> str:
        """Of a difference a - b: 'higher' or 'lower' when it excludes 0, else 'tie'."""
        if self.low > 0:
            return "higher"
        if self.high < 0:
            return "lower"
        return "tie"

    def format(self, spec: str = ".4f") -> str:
        """For example '0.0120 [0.0118, 0.0122]'; with spec '.1%': '25.0% [20.0%, 30.0%]'."""
        return f"{self.estimate:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"

    def describe(self, unit: str = "", digits: int = 2) -> str:
        """A signed difference in words, e.g. '+3.91 dB (95% interval +3.80 to +4.02)'."""
        unit = f" {unit}" if unit else ""
        return (
            f"{self.estimate:+.{digits}f}{unit} ({self.level:.0%} interval "
            f"{self.low:+.{digits}f} to {self.high:+.{digits}f})"
        )


def mean_and_standard_error(values: torch.Tensor | list[float]) -> tuple[float, float]:
    """Mean and standard error s / sqrt(n) (s with n - 1) of per-seed results; NaN SE for n = 1."""
    x = torch.as_tensor(values, dtype=torch.float64).flatten()
    if len(x) == 0:
        raise ValueError("mean_and_standard_error needs at least one value, got none.")
    if len(x) == 1:
        return x.item(), math.nan
    return x.mean().item(), (x.std(correction=1) / math.sqrt(len(x))).item()


def _percentile_interval(estimate: float, replicates: torch.Tensor, level: float) -> Interval:
    tail = (1 - level) / 2
    low, high = torch.quantile(replicates, torch.tensor([tail, 1 - tail], dtype=torch.float64))
    return Interval(estimate, low.item(), high.item(), level)


def _resampled_rows(n: int, resamples: int, level: float, seed: int) -> torch.Tensor:
    """(resamples, n) row indices drawn with replacement, after checking the settings."""
    if resamples < 2:
        raise ValueError(f"resamples must be at least 2, got {resamples!r}.")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}.")
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(n, (resamples, n), generator=generator)


def bootstrap_mean(
    values: torch.Tensor, resamples: int = 2_000, level: float = 0.95, seed: int = 0
) -> Interval:
    """The mean of ``values`` (N,) with a percentile-bootstrap ``level`` interval.

    It measures how much the mean depends on which examples were drawn (faces, samples, test
    images), not how much it depends on the training seed.
    """
    sample = torch.as_tensor(values).detach().to("cpu", torch.float64).flatten()
    if len(sample) < 2:
        raise ValueError(f"Need at least 2 values to bootstrap, got {len(sample)}.")
    if not torch.isfinite(sample).all():
        raise ValueError("values contain NaN or infinite entries.")
    rows = _resampled_rows(len(sample), resamples, level, seed)
    return _percentile_interval(sample.mean().item(), sample[rows].mean(dim=1), level)


def bootstrap_mean_difference(
    a: torch.Tensor, b: torch.Tensor, resamples: int = 2_000, level: float = 0.95, seed: int = 0
) -> Interval:
    """Mean of ``a - b`` for two (N,) per-example scores of the same examples, with its interval.

    Pairing keeps the noise that both methods share (hard images are hard for both) out of the
    interval.
    """
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    if a.shape != b.shape or a.dim() != 1:
        raise ValueError(
            "Expected two per-example score vectors of the same length, got shapes "
            f"{tuple(a.shape)} and {tuple(b.shape)}."
        )
    return bootstrap_mean(a.double() - b.double(), resamples, level, seed)


def paired_bootstrap(
    statistic: Callable[..., torch.Tensor | float],
    *columns: torch.Tensor,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile interval of ``statistic(*columns)``, resampling the same rows of every column.

    Use it for per-example scores of several models on the same held-out examples, e.g. the
    ratio of two mean errors, ``lambda a, b: a.mean() / b.mean()``.
    """
    n = len(columns[0])
    if n == 0 or any(len(column) != n for column in columns):
        raise ValueError(
            "paired_bootstrap needs columns with the same, non-zero number of rows, got "
            f"{[len(column) for column in columns]}."
        )
    columns = tuple(torch.as_tensor(column, dtype=torch.float64) for column in columns)
    estimate = float(statistic(*columns))
    replicates = torch.tensor(
        [
            float(statistic(*(column[rows] for column in columns)))
            for rows in _resampled_rows(n, resamples, level, seed)
        ],
        dtype=torch.float64,
    )
    return _percentile_interval(estimate, replicates, level)
