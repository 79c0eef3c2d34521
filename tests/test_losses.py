"""Loss terms against torch.distributions, PyTorch's own losses and the inequalities they claim."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from course_lib.losses.vae import (
    gaussian_kl,
    kl_lower_bound,
    reconstruction_bce,
    reconstruction_mse,
    restricted_kl_paper,
    vae_loss,
)


def random_posterior(n: int = 7, d: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(n, d, generator=g, dtype=torch.float64) * 2
    logvar = torch.randn(n, d, generator=g, dtype=torch.float64) * 1.5
    return mu, logvar


def true_kl_of_variance(variance: torch.Tensor) -> torch.Tensor:
    """KL(N(0, s) || N(0, 1)) per variance s, from torch.distributions: (M,) -> (M,)."""
    return kl_divergence(Normal(torch.zeros_like(variance), variance.sqrt()), Normal(0.0, 1.0))


def one_dimensional(variance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """mu = 0 and the given variances as a batch of one-dimensional posteriors, (M, 1) each."""
    return torch.zeros(len(variance), 1, dtype=variance.dtype), variance.log().unsqueeze(1)


def test_gaussian_kl_matches_torch_distributions():
    mu, logvar = random_posterior()
    expected = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected, rtol=1e-12, atol=1e-12)
    assert gaussian_kl(mu, logvar).shape == (7,)


def test_gaussian_kl_is_zero_only_at_the_prior():
    zeros = torch.zeros(3, 4, dtype=torch.float64)
    assert torch.equal(gaussian_kl(zeros, zeros), torch.zeros(3, dtype=torch.float64))
    assert (gaussian_kl(*random_posterior()) > 0).all()


def test_restricted_kl_paper_is_equation_5_as_written():
    mu, logvar = random_posterior()
    variance = logvar.exp()
    expected = 0.5 * (mu**2 + 0.5 * (variance - 1) ** 2).sum(-1)
    torch.testing.assert_close(restricted_kl_paper(mu, logvar), expected, rtol=1e-12, atol=1e-12)


def test_restricted_kl_paper_is_a_lower_bound_only_below_variance_one():
    below = torch.linspace(1e-4, 1.0, 2001, dtype=torch.float64)
    assert (
        restricted_kl_paper(*one_dimensional(below)) <= true_kl_of_variance(below) + 1e-15
    ).all()
    between_one_and_two = torch.linspace(1.001, 1.999, 999, dtype=torch.float64)
    over = restricted_kl_paper(*one_dimensional(between_one_and_two)) > true_kl_of_variance(
        between_one_and_two
    )
    assert over.all()  # the claimed bound fails on the whole interval (1, 2), not just somewhere


def test_restricted_kl_paper_is_the_second_order_taylor_term():
    variance = 1 + torch.tensor([1e-2, -1e-2, 1e-3], dtype=torch.float64)
    error = (restricted_kl_paper(*one_dimensional(variance)) - true_kl_of_variance(variance)).abs()
    assert (error < (variance - 1).abs() ** 3).all()  # the remainder is third order


def test_kl_lower_bound_holds_on_its_domain_and_fails_past_it():
    domain = torch.linspace(1e-4, 2.0, 20001, dtype=torch.float64)
    assert (kl_lower_bound(*one_dimensional(domain)) <= true_kl_of_variance(domain)).all()
    past = torch.linspace(2.7, 4.0, 131, dtype=torch.float64)
    assert (kl_lower_bound(*one_dimensional(past)) > true_kl_of_variance(past)).all()


def test_kl_lower_bound_with_means_stays_below_the_true_kl():
    mu, logvar = random_posterior()
    logvar = logvar.clamp(max=torch.log(torch.tensor(2.0)).item())
    assert (kl_lower_bound(mu, logvar) <= gaussian_kl(mu, logvar)).all()


def test_reconstruction_bce_matches_pytorch_on_probabilities():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 1, 6, 6, generator=g, dtype=torch.float64) * 3
    x = torch.rand(4, 1, 6, 6, generator=g, dtype=torch.float64)
    expected = torch.stack(
        [
            F.binary_cross_entropy(torch.sigmoid(row), t, reduction="sum")
            for row, t in zip(logits, x)
        ]
    )
    torch.testing.assert_close(reconstruction_bce(logits, x), expected, rtol=1e-10, atol=1e-10)


def test_reconstruction_bce_stays_finite_for_saturated_logits():
    logits = torch.tensor([[200.0, -200.0]])
    loss = reconstruction_bce(logits, torch.tensor([[0.0, 1.0]]))
    torch.testing.assert_close(loss, torch.tensor([400.0]))


def test_reconstruction_mse_is_the_sum_of_squared_errors_and_a_gaussian_nll():
    g = torch.Generator().manual_seed(2)
    x_hat = torch.rand(3, 1, 5, 5, generator=g, dtype=torch.float64)
    x = torch.rand(3, 1, 5, 5, generator=g, dtype=torch.float64)
    sse = ((x_hat - x) ** 2).sum(dim=(1, 2, 3))
    torch.testing.assert_close(reconstruction_mse(x_hat, x), sse)
    # The documented convention: SSE = -log N(x; x_hat, 1/2 I) - (D / 2) ln(pi).
    nll = -Normal(x_hat, 0.5**0.5).log_prob(x).sum(dim=(1, 2, 3))
    constant = 25 / 2 * torch.log(torch.tensor(torch.pi, dtype=torch.float64))  # 25 pixels
    torch.testing.assert_close(reconstruction_mse(x_hat, x), nll - constant)


def test_vae_loss_averages_over_the_batch_and_adds_the_terms():
    reconstruction = torch.tensor([10.0, 30.0])
    kl = torch.tensor([1.0, 3.0])
    loss = vae_loss(reconstruction, kl)
    assert loss["reconstruction"].item() == 20.0
    assert loss["kl"].item() == 2.0
    assert loss["total"].item() == 22.0


def test_vae_loss_sums_over_pixels_and_is_independent_of_batch_size():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(8, 1, 28, 28, generator=g)
    x = torch.rand(8, 1, 28, 28, generator=g)
    mu, logvar = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)
    single = vae_loss(reconstruction_bce(logits, x), gaussian_kl(mu, logvar))

    doubled_pixels = vae_loss(
        reconstruction_bce(torch.cat([logits, logits], dim=-1), torch.cat([x, x], dim=-1)),
        gaussian_kl(mu, logvar),
    )
    torch.testing.assert_close(doubled_pixels["reconstruction"], 2 * single["reconstruction"])
    torch.testing.assert_close(doubled_pixels["kl"], single["kl"])

    doubled_batch = vae_loss(
        reconstruction_bce(torch.cat([logits, logits]), torch.cat([x, x])),
        gaussian_kl(torch.cat([mu, mu]), torch.cat([logvar, logvar])),
    )
    for key in ("total", "reconstruction", "kl"):
        torch.testing.assert_close(doubled_batch[key], single[key])


def test_vae_loss_rejects_unreduced_or_mismatched_terms():
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        vae_loss(torch.rand(4, 784), torch.rand(4))
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        vae_loss(torch.rand(4), torch.rand(5))


def test_loss_terms_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        gaussian_kl(torch.zeros(3, 4), torch.zeros(3, 5))
    with pytest.raises(ValueError, match="same shape"):
        reconstruction_bce(torch.zeros(3, 1, 28, 28), torch.zeros(3, 784))
    with pytest.raises(ValueError, match=r"\(N, \.\.\.\)"):
        reconstruction_mse(torch.zeros(5), torch.zeros(5))
