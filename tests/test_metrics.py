"""PSNR and SSIM against scikit-image; the IWAE bound on a model with a known likelihood."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.transform import resize
from torch.distributions import Bernoulli, MultivariateNormal, Normal, kl_divergence

from course_lib.evaluation.image_quality import psnr, ssim
from course_lib.evaluation.likelihood import elbo_nats, iwae_bound, iwae_nats, vae_log_weights
from course_lib.models.vae import MLPVAE, reparameterize

# ---------------------------------------------------------------------------------------------
# PSNR and SSIM


def test_psnr_of_a_constant_offset():
    x = torch.rand(3, 1, 8, 8) * 0.5
    for delta in (0.1, 0.01):
        torch.testing.assert_close(psnr(x, x + delta), torch.full((3,), 20 * math.log10(1 / delta)))


def test_psnr_matches_skimage_and_scales_with_data_range():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 16, 16, generator=g, dtype=torch.float64)
    y = (x + 0.1 * torch.randn(4, 3, 16, 16, generator=g, dtype=torch.float64)).clamp(0, 1)
    expected = [peak_signal_noise_ratio(a.numpy(), b.numpy(), data_range=1.0) for a, b in zip(x, y)]
    torch.testing.assert_close(psnr(x, y), torch.tensor(expected, dtype=torch.float64))
    torch.testing.assert_close(psnr(255 * x, 255 * y, data_range=255), psnr(x, y))


def test_psnr_of_identical_images_is_infinite():
    x = torch.rand(2, 1, 5, 5)
    y = x.clone()
    y[1, 0, 0, 0] += 0.5
    values = psnr(x, y)
    assert values[0] == math.inf and math.isfinite(values[1].item())


def skimage_ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """scikit-image's SSIM per image of (N, C, H, W) batches, Wang et al.'s settings."""
    values = [
        structural_similarity(
            a.numpy(),
            b.numpy(),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
            channel_axis=0,
        )
        for a, b in zip(x, y)
    ]
    return torch.tensor(values, dtype=torch.float64)


@pytest.mark.parametrize("shape", [(3, 1, 28, 28), (2, 3, 32, 32), (2, 3, 11, 17)])
def test_ssim_matches_skimage_on_random_images(shape):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(shape, generator=g, dtype=torch.float64)
    y = (0.7 * x + 0.3 * torch.rand(shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    torch.testing.assert_close(ssim(x, y), skimage_ssim(x, y), rtol=0, atol=1e-6)


def real_images() -> torch.Tensor:
    """Two natural photographs from scikit-image, (2, 3, 48, 48) float64 in [0, 1]."""
    photos = [skdata.astronaut()[100:300, 150:350], skdata.coffee()[100:300, 200:400]]
    return torch.tensor(
        np.stack([resize(p, (48, 48), anti_aliasing=True) for p in photos])
    ).permute(0, 3, 1, 2)


def test_ssim_matches_skimage_on_real_images_in_float32_and_float64():
    x = real_images()
    g = torch.Generator().manual_seed(2)
    y = (x + 0.08 * torch.randn(x.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    expected = skimage_ssim(x, y)
    torch.testing.assert_close(ssim(x, y), expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(ssim(x.float(), y.float()).double(), expected, rtol=0, atol=1e-4)


def test_ssim_is_one_for_identical_images_and_falls_with_noise():
    x = real_images()
    torch.testing.assert_close(ssim(x, x), torch.ones(2, dtype=torch.float64))
    g = torch.Generator().manual_seed(3)
    noise = torch.randn(x.shape, generator=g, dtype=torch.float64)
    values = torch.stack(
        [ssim(x, (x + std * noise).clamp(0, 1)) for std in (0.02, 0.05, 0.1, 0.2, 0.4)]
    )  # (5, 2)
    assert (values[1:] < values[:-1]).all()
    assert (values[-1] < 0.5).all()


def test_ssim_scales_with_data_range_and_checks_shapes():
    x = real_images()
    y = x.flip(-1)
    torch.testing.assert_close(ssim(255 * x, 255 * y, data_range=255), ssim(x, y))
    with pytest.raises(ValueError, match="at least 11 x 11"):
        ssim(torch.rand(1, 1, 10, 28), torch.rand(1, 1, 10, 28))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ssim(torch.rand(1, 28, 28), torch.rand(1, 28, 28))


# ---------------------------------------------------------------------------------------------
# IWAE on a linear-Gaussian latent model: z ~ N(0, I_d), x | z ~ N(W z + b, s^2 I_D),
# so that p(x) = N(x; b, W W^T + s^2 I) and the posterior p(z|x) are known exactly.

D, LATENT, NOISE_STD = 5, 3, 0.5


class LinearGaussianModel:
    def __init__(self, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.weight = torch.randn(D, LATENT, generator=g, dtype=torch.float64)
        self.bias = torch.randn(D, generator=g, dtype=torch.float64)
        precision = (
            torch.eye(LATENT, dtype=torch.float64) + self.weight.T @ self.weight / NOISE_STD**2
        )
        self.posterior_cov = torch.linalg.inv(precision)  # (d, d), the same for every x

    def sample_x(self, n: int, seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, LATENT, generator=g, dtype=torch.float64)
        return (
            z @ self.weight.T
            + self.bias
            + NOISE_STD * torch.randn(n, D, generator=g, dtype=torch.float64)
        )

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        cov = self.weight @ self.weight.T + NOISE_STD**2 * torch.eye(D, dtype=torch.float64)
        return MultivariateNormal(self.bias, cov).log_prob(x)  # (N,)

    def posterior_mean(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.bias) @ self.weight @ self.posterior_cov / NOISE_STD**2  # (N, d)

    def q(self, x: torch.Tensor, variance_scale: float) -> MultivariateNormal:
        """The exact posterior mean with the posterior covariance times ``variance_scale``."""
        return MultivariateNormal(self.posterior_mean(x), variance_scale * self.posterior_cov)

    def log_weight_fn(self, variance_scale: float, seed: int):
        g = torch.Generator().manual_seed(seed)

        def log_weights(x: torch.Tensor, n: int) -> torch.Tensor:
            q = self.q(x, variance_scale)
            scale = torch.linalg.cholesky(variance_scale * self.posterior_cov)  # (d, d)
            eps = torch.randn(n, len(x), LATENT, generator=g, dtype=torch.float64)
            z = q.loc + eps @ scale.T  # (n, N, d)
            log_likelihood = (
                Normal(z @ self.weight.T + self.bias, NOISE_STD).log_prob(x).sum(-1)
            )  # (n, N)
            log_prior = Normal(0.0, 1.0).log_prob(z).sum(-1)
            return log_likelihood + log_prior - q.log_prob(z)

        return log_weights

    def analytic_elbo(self, x: torch.Tensor, variance_scale: float) -> torch.Tensor:
        """ELBO = log p(x) - KL(q(z|x) || p(z|x)), both Gaussian."""
        posterior = MultivariateNormal(self.posterior_mean(x), self.posterior_cov)
        return self.log_marginal(x) - kl_divergence(self.q(x, variance_scale), posterior)


def repeated_bounds(
    model: LinearGaussianModel, x: torch.Tensor, k: int, repeats: int, seed: int
) -> torch.Tensor:
    """``repeats`` independent L_k for every example: (repeats, N)."""
    fn = model.log_weight_fn(variance_scale=2.0, seed=seed)
    return iwae_bound(fn, x.repeat(repeats, 1), k, chunk=100).view(repeats, len(x))


def test_iwae_with_one_sample_averages_to_the_analytic_elbo():
    model = LinearGaussianModel()
    x = model.sample_x(4, seed=1)
    bounds = repeated_bounds(model, x, k=1, repeats=40_000, seed=2)
    standard_error = bounds.std(0) / math.sqrt(len(bounds))
    expected = model.analytic_elbo(x, variance_scale=2.0)
    assert ((bounds.mean(0) - expected).abs() < 4 * standard_error).all()
    assert (expected < model.log_marginal(x) - 0.3).all()  # q is clearly imperfect: a real gap


def test_iwae_tightens_with_k_towards_the_exact_log_likelihood():
    model = LinearGaussianModel()
    x = model.sample_x(4, seed=1)
    exact = model.log_marginal(x)
    budget = 100_000  # samples per example for every k, so the standard errors are comparable
    means, errors = {}, {}
    for seed, k in enumerate((1, 10, 100, 1000)):
        bounds = repeated_bounds(model, x, k, repeats=budget // k, seed=10 + seed)
        means[k], errors[k] = bounds.mean(0), bounds.std(0) / math.sqrt(len(bounds))
    assert (means[1] < means[10] - 4 * errors[10]).all()
    assert (means[10] < means[100] - 3 * errors[100]).all()
    assert (means[100] < means[1000] + 4 * errors[1000]).all()
    gap = {k: exact - means[k] for k in means}
    assert (gap[1000].abs() < gap[1] / 50).all()
    for k in means:  # a lower bound: never above log p(x) by more than Monte Carlo noise
        assert (means[k] < exact + 4 * errors[k]).all()


def test_iwae_with_the_exact_posterior_is_exact_for_every_k():
    model = LinearGaussianModel()
    x = model.sample_x(6, seed=3)
    fn = model.log_weight_fn(variance_scale=1.0, seed=4)
    for k in (1, 7, 1000):
        torch.testing.assert_close(
            iwae_bound(fn, x, k, chunk=64), model.log_marginal(x), rtol=0, atol=1e-9
        )


def test_chunked_iwae_equals_one_logsumexp_over_all_samples():
    g = torch.Generator().manual_seed(5)
    table = (
        torch.randn(250, 3, generator=g, dtype=torch.float64) * 50 - 800
    )  # (k, N); exp would underflow
    k = len(table)
    expected = torch.logsumexp(table, 0) - math.log(k)

    def replay(x: torch.Tensor, n: int) -> torch.Tensor:
        nonlocal position
        rows = table[position : position + n]
        position += n
        return rows

    for chunk in (1, 7, 100, 250, 1000):
        position = 0
        torch.testing.assert_close(
            iwae_bound(replay, torch.zeros(3, 1), k, chunk=chunk), expected, rtol=0, atol=1e-10
        )
        assert position == k  # every sample drawn exactly once
    with pytest.raises(ValueError, match="at least 1"):
        iwae_bound(replay, torch.zeros(3, 1), 0)


# ---------------------------------------------------------------------------------------------
# The VAE-specific weights and nats


def binary_images(n: int, seed: int = 0) -> torch.Tensor:
    """(n, 1, 28, 28) random binary images, from 5% to 50% of pixels on, so their nats differ."""
    g = torch.Generator().manual_seed(seed)
    share_on = torch.linspace(0.05, 0.5, n).view(n, 1, 1, 1)
    return (torch.rand(n, 1, 28, 28, generator=g) < share_on).float()


def tiny_vae() -> MLPVAE:
    """An untrained MLP VAE whose decoder prefers dark pixels (like MNIST's): sparse images win."""
    torch.manual_seed(0)
    model = MLPVAE(hidden_dim=32, latent_dim=4)
    with torch.no_grad():
        model.decoder[4].bias.fill_(-2.0)  # the output layer: p(pixel on) about 0.12
    return model


def test_vae_log_weights_match_torch_distributions():
    model = tiny_vae().double()
    x = binary_images(3).double()
    k = 5
    weights = vae_log_weights(model, x, k, generator=torch.Generator().manual_seed(6))
    assert weights.shape == (k, 3)

    mu, logvar = model.encode(x)
    z = reparameterize(
        mu.expand(k, 3, 4), logvar.expand(k, 3, 4), torch.Generator().manual_seed(6)
    )  # same draws
    logits = model.decode_logits(z.reshape(k * 3, 4)).view(k, 3, 1, 28, 28)
    log_likelihood = Bernoulli(logits=logits).log_prob(x.expand(k, 3, 1, 28, 28)).sum(dim=(2, 3, 4))
    log_prior = Normal(0.0, 1.0).log_prob(z).sum(-1)
    log_q = Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
    torch.testing.assert_close(weights, log_likelihood + log_prior - log_q, rtol=1e-10, atol=1e-9)


def test_elbo_nats_is_the_mean_negative_log_weight():
    model = tiny_vae()
    x = binary_images(4)
    elbo = elbo_nats(model, x, samples=2000, generator=torch.Generator().manual_seed(7))
    log_weights = vae_log_weights(model, x, 4000, generator=torch.Generator().manual_seed(8))
    # Both estimate E_q[-log w]; elbo_nats has less variance, so the log weights set the tolerance.
    tolerance = 4 * log_weights.std(0) / math.sqrt(len(log_weights))
    assert ((elbo - (-log_weights.mean(0))).abs() < tolerance).all()


def test_iwae_nats_is_below_elbo_nats_and_independent_of_batching():
    model = tiny_vae().train()
    x = binary_images(10)
    elbo = elbo_nats(model, x, batch_size=3, samples=50, generator=torch.Generator().manual_seed(9))
    iwae = iwae_nats(
        model, x, k=500, batch_size=3, chunk=64, generator=torch.Generator().manual_seed(10)
    )
    assert iwae.shape == elbo.shape == (10,)
    assert (iwae < elbo).all()
    assert model.training  # the previous mode comes back
    other_batching = iwae_nats(
        model, x, k=500, batch_size=10, chunk=500, generator=torch.Generator().manual_seed(11)
    )
    torch.testing.assert_close(other_batching, iwae, rtol=0, atol=0.5)  # images far apart in nats
    assert (iwae.max() - iwae.min()) > 5


def test_nats_need_binary_images():
    model = tiny_vae()
    with pytest.raises(ValueError, match="binary images"):
        iwae_nats(model, torch.rand(2, 1, 28, 28), k=2)
    with pytest.raises(ValueError, match="binary images"):
        elbo_nats(model, torch.rand(2, 1, 28, 28))
