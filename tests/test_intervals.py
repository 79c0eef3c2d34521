"""Standard errors and bootstrap intervals against closed forms, numpy and SciPy."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from course_lib.evaluation.intervals import (
    Interval,
    bootstrap_mean,
    bootstrap_mean_difference,
    mean_and_standard_error,
    paired_bootstrap,
)


def test_standard_error_matches_numpy():
    values = [0.0120, 0.0119, 0.0131]
    mean, se = mean_and_standard_error(values)
    assert mean == pytest.approx(np.mean(values))
    assert se == pytest.approx(np.std(values, ddof=1) / math.sqrt(3))


def test_standard_error_of_one_value_is_nan():
    mean, se = mean_and_standard_error([2.5])
    assert mean == 2.5 and math.isnan(se)
    with pytest.raises(ValueError, match="at least one"):
        mean_and_standard_error([])


def test_bootstrap_interval_of_a_mean_matches_the_normal_interval():
    # For n = 2,000 normal values the 95% percentile interval of the mean is close to
    # mean +- 1.96 s / sqrt(n).
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(2000, generator=generator, dtype=torch.float64) * 3 + 1
    interval = paired_bootstrap(lambda x: x.mean(), values, resamples=2000, seed=1)
    half_width = 1.96 * values.std().item() / math.sqrt(len(values))
    assert interval.estimate == pytest.approx(values.mean().item())
    assert interval.low == pytest.approx(values.mean().item() - half_width, abs=0.15 * half_width)
    assert interval.high == pytest.approx(values.mean().item() + half_width, abs=0.15 * half_width)


def test_pairing_removes_the_noise_two_columns_share():
    # b = a + 0.1 exactly: every resample gives the difference 0.1, so the paired interval has
    # zero width although each column alone is very noisy.
    a = torch.randn(500, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 10
    interval = paired_bootstrap(lambda x, y: (y - x).mean(), a, a + 0.1, resamples=200)
    assert interval.low == pytest.approx(0.1) and interval.high == pytest.approx(0.1)
    assert not interval.contains(0.0)


def test_bootstrap_is_reproducible_with_a_seed():
    values = torch.arange(100.0)

    def run(seed):
        return paired_bootstrap(torch.median, values, resamples=50, seed=seed)

    assert run(3) == run(3) != run(4)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="same, non-zero number of rows"):
        paired_bootstrap(lambda x, y: x.mean(), torch.ones(3), torch.ones(4))
    with pytest.raises(ValueError, match="resamples"):
        paired_bootstrap(lambda x: x.mean(), torch.ones(3), resamples=1)
    with pytest.raises(ValueError, match="level"):
        paired_bootstrap(lambda x: x.mean(), torch.ones(3), level=1.5)


def test_interval_helpers():
    interval = Interval(1.0, 0.5, 1.5, 0.95)
    assert interval.contains(0.5) and not interval.contains(1.6)
    assert interval.format(".1f") == "1.0 [0.5, 1.5]"


def test_bootstrap_mean_matches_the_normal_approximation():
    values = torch.randn(4_000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    interval = bootstrap_mean(values, resamples=2_000)
    assert interval.estimate == pytest.approx(values.mean().item())
    half_width = 1.96 * values.std().item() / len(values) ** 0.5
    assert (interval.high - interval.low) / 2 == pytest.approx(half_width, rel=0.15)
    assert interval.low < interval.estimate < interval.high


def test_bootstrap_mean_of_a_constant_has_no_width_and_is_reproducible():
    interval = bootstrap_mean(torch.full((50,), 3.0))
    assert (interval.low, interval.estimate, interval.high) == pytest.approx((3.0, 3.0, 3.0))
    values = torch.arange(20.0)
    assert bootstrap_mean(values, seed=5) == bootstrap_mean(values, seed=5)


def test_bootstrap_mean_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        bootstrap_mean(torch.ones(1))
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_mean(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="level"):
        bootstrap_mean(torch.ones(5), level=1.5)


def test_interval_percent_format_and_excludes():
    interval = Interval(0.25, 0.2, 0.3, 0.95)
    assert interval.format(".1%") == "25.0% [20.0%, 30.0%]"
    assert interval.excludes(0.0) and not interval.excludes(0.25)


def test_mean_difference_matches_scipy_percentile_bootstrap_of_paired_differences():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(400, generator=generator, dtype=torch.float64) + 0.2
    b = a - 0.1 + 0.5 * torch.randn(400, generator=generator, dtype=torch.float64)
    ours = bootstrap_mean_difference(a, b, resamples=20_000, seed=1)
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
    assert ours.estimate == pytest.approx((a - b).mean().item())


def test_mean_difference_refuses_unpaired_scores():
    with pytest.raises(ValueError, match="same length"):
        bootstrap_mean_difference(torch.ones(5), torch.ones(4))


def test_verdicts_and_description():
    assert Interval(1.0, 0.5, 1.5, 0.95).verdict == "higher"
    assert Interval(-1.0, -1.5, -0.5, 0.95).verdict == "lower"
    assert Interval(0.1, -0.2, 0.4, 0.95).verdict == "tie"
    text = Interval(3.912, 3.8, 4.02, 0.95).describe("dB")
    assert text == "+3.91 dB (95% interval +3.80 to +4.02)"
