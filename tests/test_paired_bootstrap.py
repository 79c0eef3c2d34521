"""The paired bootstrap against SciPy's own bootstrap, and its verdicts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from course_lib.evaluation.paired_bootstrap import Difference, paired_bootstrap


def test_interval_matches_scipy_percentile_bootstrap_of_paired_differences():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(400, generator=generator, dtype=torch.float64) + 0.2
    b = a - 0.1 + 0.5 * torch.randn(400, generator=generator, dtype=torch.float64)
    ours = paired_bootstrap(a, b, resamples=20_000, seed=1)
    theirs = stats.bootstrap(
        ((a - b).numpy(),),
        np.mean,
        n_resamples=20_000,
        method="percentile",
        confidence_level=0.95,
        random_state=np.random.default_rng(2),
    ).confidence_interval
    # two independent Monte Carlo estimates of the same quantiles: agree to a few thousandths
    assert ours.low == pytest.approx(theirs.low, abs=4e-3)
    assert ours.high == pytest.approx(theirs.high, abs=4e-3)
    assert ours.mean == pytest.approx((a - b).mean().item())


def test_interval_width_follows_the_standard_error():
    differences = torch.randn(2000, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    result = paired_bootstrap(differences, torch.zeros(2000), resamples=5000)
    standard_error = differences.std().item() / 2000**0.5
    assert result.high - result.low == pytest.approx(2 * 1.96 * standard_error, rel=0.08)


def test_verdicts_and_description():
    assert Difference(1.0, 0.5, 1.5, 0.95).verdict == "higher"
    assert Difference(-1.0, -1.5, -0.5, 0.95).verdict == "lower"
    assert Difference(0.1, -0.2, 0.4, 0.95).verdict == "tie"
    text = Difference(3.912, 3.8, 4.02, 0.95).describe("dB")
    assert text == "+3.91 dB (95% interval +3.80 to +4.02)"


def test_same_seed_same_interval_and_bad_inputs_refused():
    a, b = torch.rand(50, generator=torch.Generator().manual_seed(4)), torch.zeros(50)
    assert paired_bootstrap(a, b, seed=5) == paired_bootstrap(a, b, seed=5)
    with pytest.raises(ValueError, match="per-example"):
        paired_bootstrap(a, b[:-1])
    with pytest.raises(ValueError, match="level"):
        paired_bootstrap(a, b, level=1.5)
