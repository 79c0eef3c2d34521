"""Annealed importance sampling against exact enumeration."""

import math

import pytest
import torch

from course_lib.evaluation import rbm_exact
from course_lib.evaluation.ais import (
    ais_log_likelihood,
    ais_log_partition,
    base_rate_bias,
    temperature_schedule,
)
from course_lib.models.rbm import BernoulliRBM


def random_rbm(n_visible: int, n_hidden: int, seed: int, scale: float = 0.5) -> BernoulliRBM:
    generator = torch.Generator().manual_seed(seed)
    rbm = BernoulliRBM(n_visible, n_hidden)
    with torch.no_grad():
        rbm.weight.copy_(scale * torch.randn(n_visible, n_hidden, generator=generator))
        rbm.visible_bias.copy_(scale * torch.randn(n_visible, generator=generator))
        rbm.hidden_bias.copy_(scale * torch.randn(n_hidden, generator=generator))
    return rbm


@pytest.mark.parametrize("seed", range(4))
def test_ais_is_within_a_tenth_of_a_nat_of_the_exact_log_partition(seed):
    rbm = random_rbm(n_visible=24, n_hidden=16, seed=seed)
    exact = rbm_exact.log_partition(rbm).item()
    result = ais_log_partition(
        rbm, n_temperatures=2_000, n_chains=100, generator=torch.Generator().manual_seed(seed)
    )
    assert abs(result.log_z - exact) < 0.1
    assert result.log_z_low < result.log_z < result.log_z_high


def test_a_bad_estimate_is_caught_by_the_same_check():
    """Too few temperatures on a sharp model: the tolerance of the test above is not vacuous."""
    rbm = random_rbm(n_visible=24, n_hidden=16, seed=0, scale=2.0)
    exact = rbm_exact.log_partition(rbm).item()
    result = ais_log_partition(
        rbm, n_temperatures=3, n_chains=10, generator=torch.Generator().manual_seed(0)
    )
    assert abs(result.log_z - exact) > 0.1


def test_ais_is_exact_when_the_rbm_equals_the_base_model():
    rbm = BernoulliRBM(10, 5)
    with torch.no_grad():
        rbm.weight.zero_()
        rbm.visible_bias.copy_(torch.linspace(-2, 2, 10))
    result = ais_log_partition(
        rbm, n_temperatures=10, n_chains=4, base_bias=rbm.visible_bias.detach()
    )
    expected = torch.nn.functional.softplus(rbm.visible_bias).sum().item() + 5 * math.log(2)
    assert result.log_z == pytest.approx(expected, abs=1e-5)  # float32 model
    assert result.log_weights.abs().max() < 1e-5


def test_log_likelihood_uses_the_estimated_log_partition():
    rbm = random_rbm(12, 6, seed=1)
    v = rbm_exact.all_states(12)[::97].float()
    result = ais_log_partition(
        rbm, n_temperatures=1_000, n_chains=50, generator=torch.Generator().manual_seed(0)
    )
    exact = rbm_exact.log_likelihood(rbm, v)
    torch.testing.assert_close(ais_log_likelihood(rbm, v, result), exact, atol=0.1, rtol=0)


def test_schedule_and_base_rate():
    betas = temperature_schedule(1_000)
    assert len(betas) == 1_001 and betas[0] == 0 and betas[-1] == 1
    assert (betas.diff() > 0).all()
    assert (betas > 0.9).sum() > 600  # most steps where the distribution changes fastest
    data = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    bias = base_rate_bias(data, smoothing=0.0 + 1e-9)
    assert bias[0] == pytest.approx(math.log(3.0), abs=1e-6)
    assert bias[1] < -15  # never on: strongly off, yet finite
    assert torch.isfinite(base_rate_bias(data)).all()
    with pytest.raises(ValueError, match="3 temperatures"):
        temperature_schedule(2)
