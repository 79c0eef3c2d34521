"""Standard errors and paired bootstrap intervals against closed forms and numpy."""

import math

import numpy as np
import pytest
import torch

from course_lib.evaluation.intervals import Interval, mean_and_standard_error, paired_bootstrap


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
    interval = paired_bootstrap(
        lambda x: x.mean(), values, resamples=2000, generator=torch.Generator().manual_seed(1)
    )
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


def test_bootstrap_is_reproducible_with_a_generator():
    values = torch.arange(100.0)

    def run():
        return paired_bootstrap(
            torch.median, values, resamples=50, generator=torch.Generator().manual_seed(3)
        )

    assert run() == run()


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
