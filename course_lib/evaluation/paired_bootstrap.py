"""Is a measured difference larger than its noise? Paired bootstrap over held-out examples.

Two methods scored on the same images give two per-image score vectors. Their mean difference
depends on which images happened to be held out; resampling the images with replacement (the same
resample for both methods, which keeps the pairing) shows how much. A difference whose interval
excludes 0 is reported as a difference, otherwise as a tie.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Difference:
    """Mean of a - b over the examples, with a percentile bootstrap interval."""

    mean: float
    low: float
    high: float
    level: float

    @property
    def verdict(self) -> str:
        """'higher' or 'lower' (a against b) when the interval excludes 0, else 'tie'."""
        if self.low > 0:
            return "higher"
        if self.high < 0:
            return "lower"
        return "tie"

    def describe(self, unit: str = "", digits: int = 2) -> str:
        """E.g. '+3.91 dB (95% interval +3.80 to +4.02)'."""
        unit = f" {unit}" if unit else ""
        return (
            f"{self.mean:+.{digits}f}{unit} ({self.level:.0%} interval "
            f"{self.low:+.{digits}f} to {self.high:+.{digits}f})"
        )


def paired_bootstrap(
    a: torch.Tensor,
    b: torch.Tensor,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Difference:
    """Mean of ``a - b`` (two (N,) per-example scores) and its percentile bootstrap interval."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    if a.shape != b.shape or a.dim() != 1 or len(a) < 2:
        raise ValueError(
            f"Expected two per-example score vectors of one length >= 2, got {tuple(a.shape)} "
            f"and {tuple(b.shape)}."
        )
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}.")
    differences = a - b
    generator = torch.Generator().manual_seed(seed)
    picks = torch.randint(len(differences), (resamples, len(differences)), generator=generator)
    means = differences[picks].mean(dim=1)  # (resamples,)
    tail = (1 - level) / 2
    low, high = torch.quantile(means, torch.tensor([tail, 1 - tail], dtype=torch.float64))
    return Difference(differences.mean().item(), low.item(), high.item(), level)
