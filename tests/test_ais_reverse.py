"""Reverse annealing (RAISE) and pooled AIS runs, against exact enumeration."""

import math

import pytest
import torch

from course_lib.evaluation import rbm_exact
from course_lib.evaluation.ais import (
    ais_log_partition,
    pool_runs,
    raise_log_likelihood,
    temperature_schedule,
)
from course_lib.models.rbm import BernoulliRBM


def random_rbm(n_visible: int, n_hidden: int, seed: int, scale: float = 0.5) -> BernoulliRBM:
    generator = torch.Generator().manual_seed(seed)
    rbm = BernoulliRBM(n_visible, n_hidden).double()
    with torch.no_grad():
        for parameter in rbm.parameters():
            parameter.copy_(scale * torch.randn(parameter.shape, generator=generator))
    return rbm


def annealing_model(rbm: BernoulliRBM, base: torch.Tensor, n_temperatures: int) -> torch.Tensor:
    """p_ann over every visible state: draw from the base-rate model, then apply the K Gibbs
    transition matrices T_k(v' | v) = sum_h p_k(h | v) p_k(v' | h), written out in full."""
    v = rbm_exact.all_states(rbm.n_visible)
    h = rbm_exact.all_states(rbm.n_hidden)
    w, a, b = rbm.weight.detach(), rbm.visible_bias.detach(), rbm.hidden_bias.detach()

    def bernoulli_table(logits: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        # P(states | logits) for every row of logits and every state: (rows, states)
        return torch.exp(states @ logits.T - torch.nn.functional.softplus(logits).sum(1)).T

    p = bernoulli_table(base.unsqueeze(0), v)[0]  # p_A(v)
    for beta in temperature_schedule(n_temperatures)[1:].tolist():
        h_given_v = bernoulli_table(beta * (b + v @ w), h)  # (2^n_v, 2^n_h)
        v_given_h = bernoulli_table((1 - beta) * base + beta * (a + h @ w.T), v)  # (2^n_h, 2^n_v)
        p = p @ (h_given_v @ v_given_h)
    return p


def test_raise_weights_average_to_the_annealing_model_probability():
    """The RAISE weight is unbiased for p_ann(v), computed here by exact matrix products."""
    rbm = random_rbm(6, 3, seed=0, scale=1.0)
    base = torch.linspace(2.0, -2.0, 6, dtype=torch.float64)  # far from the RBM
    n_temperatures = 3
    exact = annealing_model(rbm, base, n_temperatures)
    assert exact.sum().item() == pytest.approx(1.0, abs=1e-12)
    index = torch.tensor([0, 9, 42, 63])
    rows = rbm_exact.all_states(6)[index]
    result = raise_log_likelihood(
        rbm,
        rows,
        n_temperatures=n_temperatures,
        chains_per_row=40_000,
        base_bias=base,
        generator=torch.Generator().manual_seed(0),
    )
    torch.testing.assert_close(result.log_likelihood, exact[index].log(), atol=0.05, rtol=0)
    # With 3 temperatures p_ann is far from the RBM: the test above is not checking log p(v).
    assert (exact[index].log() - rbm_exact.log_likelihood(rbm, rows)).abs().max() > 0.1


def test_raise_approaches_the_exact_log_likelihood_from_below():
    rbm = random_rbm(24, 16, seed=3)
    rows = rbm_exact.all_states(24)[:: 2**24 // 9][:8]
    exact = rbm_exact.log_likelihood(rbm, rows)
    estimates = {
        n: raise_log_likelihood(
            rbm,
            rows,
            n_temperatures=n,
            chains_per_row=20,
            generator=torch.Generator().manual_seed(1),
        ).log_likelihood
        for n in (20, 2_000)
    }
    assert (estimates[20] - exact).mean() < -0.1  # few temperatures: clearly conservative
    assert (estimates[2_000] - exact).abs().max() < 0.1
    assert (estimates[2_000] - exact).mean() < 0.02


def test_raise_checks_its_arguments():
    rbm = random_rbm(4, 2, seed=0)
    with pytest.raises(ValueError, match="binary"):
        raise_log_likelihood(rbm, torch.full((1, 4), 0.5, dtype=torch.float64), n_temperatures=5)
    with pytest.raises(ValueError, match="chains_per_row"):
        raise_log_likelihood(rbm, torch.ones(1, 4), n_temperatures=5, chains_per_row=0)


def test_pooled_runs_equal_one_run_over_all_their_chains():
    rbm = random_rbm(12, 6, seed=2)
    runs = [
        ais_log_partition(
            rbm, n_temperatures=200, n_chains=10, generator=torch.Generator().manual_seed(seed)
        )
        for seed in range(3)
    ]
    pooled = pool_runs(runs)
    log_z_base = 12 * math.log(2.0) + 6 * math.log(2.0)  # zero base biases
    all_weights = torch.cat([run.log_weights for run in runs])
    expected = log_z_base + torch.logsumexp(all_weights, 0).item() - math.log(30)
    assert pooled.log_z == pytest.approx(expected, abs=1e-9)
    assert pooled.log_z_low < pooled.log_z < pooled.log_z_high
    assert len(pooled.log_weights) == 30
    other = ais_log_partition(rbm, n_temperatures=100, n_chains=10)
    with pytest.raises(ValueError, match="same number of temperatures"):
        pool_runs([runs[0], other])
