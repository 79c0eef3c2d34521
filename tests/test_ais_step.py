"""The annealing step shared by forward AIS and RAISE, against enumeration over hidden states."""

import pytest
import torch

from course_lib.evaluation import rbm_exact
from course_lib.evaluation.ais import _anneal_step
from course_lib.models.rbm import BernoulliRBM


def log_unnormalised_by_enumeration(rbm, base, beta, v):
    """log p*_beta(v) = log sum_h exp((1 - beta) a_A.v + beta (a.v + v W h + b.h)): (B,)."""
    h = rbm_exact.all_states(rbm.n_hidden)
    w, a, b = rbm.weight.detach(), rbm.visible_bias.detach(), rbm.hidden_bias.detach()
    visible = v @ ((1 - beta) * base + beta * a)
    joint = beta * (v @ w @ h.T + h @ b)  # (B, 2^H)
    return visible + torch.logsumexp(joint, dim=1)


@pytest.mark.parametrize(("beta_from", "beta_to"), [(0.3, 0.7), (0.7, 0.3)])
def test_the_step_weighs_the_right_state_with_the_right_ratio(beta_from, beta_to):
    generator = torch.Generator().manual_seed(0)
    rbm = BernoulliRBM(6, 4).double()
    with torch.no_grad():
        for parameter in rbm.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    base = torch.randn(6, generator=generator, dtype=torch.float64)
    v = torch.bernoulli(torch.full((50, 6), 0.5, dtype=torch.float64), generator=generator)
    hidden_input = torch.addmm(rbm.hidden_bias, v, rbm.weight).detach()

    with torch.no_grad():
        increment, moved, moved_hidden = _anneal_step(
            rbm, v, hidden_input, beta_from, beta_to, base, torch.Generator().manual_seed(1)
        )

    # forward AIS weighs the state before the move, reverse annealing the state after it
    weighed = v if beta_to > beta_from else moved
    expected = log_unnormalised_by_enumeration(
        rbm, base, beta_to, weighed
    ) - log_unnormalised_by_enumeration(rbm, base, beta_from, weighed)
    torch.testing.assert_close(increment, expected)
    torch.testing.assert_close(moved_hidden, rbm.hidden_bias + moved @ rbm.weight)
    assert not torch.equal(moved, v), "the chains must move"
