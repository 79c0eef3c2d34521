"""Measurements of generative models and of denoised images.

Image quality: ``psnr`` and ``ssim`` per image of a batch (N, C, H, W).

Likelihood of a VAE with a Bernoulli decoder (binarized MNIST), in nats per image:

- ``elbo_nats``: -ELBO = -E_q[log p(x|z)] + KL(q(z|x) || p(z)), an upper bound on -log p(x);
- ``iwae_nats``: the importance-weighted bound of Burda et al. (2015) with k samples,
  -log (1/k) sum_i p(x, z_i) / q(z_i|x), z_i ~ q(z|x). It is also an upper bound on -log p(x),
  it never gets worse as k grows, and it converges to -log p(x) as k -> infinity.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.losses import gaussian_kl, reconstruction_bce
from course_lib.models.vae import reparameterize

LOG_2PI = math.log(2 * math.pi)


def _check_image_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(
            f"Expected two image batches of the same shape (N, C, H, W), got {tuple(x.shape)} and {tuple(y.shape)}."
        )


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image, (N, C, H, W) twice -> (N,).

    PSNR = 10 log10(data_range^2 / MSE), the MSE taken over all pixels and channels of an
    image. Identical images give +inf; every halving of the error adds 6.02 dB.
    """
    _check_image_pair(x, y)
    mse = (x - y).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(data_range**2 / mse)


def gaussian_window(sigma: float = 1.5, radius: int = 5, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A normalised 1-D Gaussian of 2 radius + 1 taps, (2 radius + 1,): 11 taps as in Wang et al."""
    offsets = torch.arange(-radius, radius + 1, dtype=dtype)
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum()


def _local_mean(images: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Gaussian-weighted mean over every fully inside window: (M, 1, H, W) -> (M, 1, H - 2r, W - 2r).

    The 2-D Gaussian is separable, so two 1-D passes replace one 11 x 11 convolution.
    """
    taps = len(window)
    rows = F.conv2d(images, window.view(1, 1, taps, 1))
    return F.conv2d(rows, window.view(1, 1, 1, taps))


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) per image, (N, C, H, W) twice -> (N,).

    With Gaussian-weighted local statistics (11 taps, sigma 1.5) mu_x, mu_y, sigma_x^2, sigma_y^2,
    sigma_xy around every pixel,

        SSIM = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2)),

    C1 = (0.01 L)^2, C2 = (0.03 L)^2 with L = data_range, averaged over the positions where the
    window lies fully inside the image, then over channels. Same conventions as scikit-image's
    ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``
    (which pads, then crops the border the padding influenced).
    """
    _check_image_pair(x, y)
    radius = int(3.5 * sigma + 0.5)  # scipy's truncation at 3.5 sigma: 11 taps for sigma 1.5
    if min(x.shape[-2:]) < 2 * radius + 1:
        side = 2 * radius + 1
        raise ValueError(f"SSIM needs images of at least {side} x {side}, got {tuple(x.shape[-2:])}.")
    n, c, h, w = x.shape
    window = gaussian_window(sigma, radius, x.dtype).to(x.device)
    # Channels become separate images: (N * C, 1, H, W); then five statistics in one batch.
    x, y = x.reshape(n * c, 1, h, w), y.reshape(n * c, 1, h, w)
    stats = _local_mean(torch.cat([x, y, x * x, y * y, x * y]), window)  # (5 N C, 1, H', W')
    mu_x, mu_y, xx, yy, xy = stats.chunk(5)
    var_x, var_y, cov_xy = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.reshape(n, -1).mean(1)  # mean over channels and positions


LogWeightFn = Callable[[torch.Tensor, int], torch.Tensor]


def iwae_bound(log_weight_fn: LogWeightFn, x: torch.Tensor, k: int, chunk: int = 100) -> torch.Tensor:
    """The importance-weighted lower bound on log p(x), per example: (N,).

    ``log_weight_fn(x, n)`` draws n samples z_i ~ q(z|x) for every example and returns the log
    weights log w_i = log p(x, z_i) - log q(z_i|x), shape (n, N). The bound is

        L_k = log (1/k) sum_{i=1..k} w_i = logsumexp_i(log w_i) - log k.

    The k samples are drawn ``chunk`` at a time and their logsumexps combined with another
    logsumexp (logsumexp over a union = logsumexp of the parts' logsumexps), so memory grows
    with ``chunk``, not with k, and no weight is ever exponentiated outside logsumexp.
    """
    if k < 1 or chunk < 1:
        raise ValueError(f"k and chunk must be at least 1, got k={k}, chunk={chunk}.")
    partial = [
        torch.logsumexp(log_weight_fn(x, min(chunk, k - start)), dim=0)  # (N,)
        for start in range(0, k, chunk)
    ]
    return torch.logsumexp(torch.stack(partial), dim=0) - math.log(k)  # (chunks, N) -> (N,)


def _check_binary(x: torch.Tensor) -> None:
    if not ((x == 0) | (x == 1)).all():
        raise ValueError(
            "Likelihoods under a Bernoulli decoder need binary images (values 0 or 1): for grey "
            "images BCE is not a log-density. Use binarized data, e.g. course_lib.data.binarized_mnist."
        )


def vae_log_weights(
    model: nn.Module, x: torch.Tensor, k: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """log p(x|z_i) + log p(z_i) - log q(z_i|x) for z_i ~ q(z|x), i = 1..k: (k, N).

    ``model`` is any VAE of ``course_lib.models.vae`` (encode -> (mu, logvar), decode_logits):
    Bernoulli decoder, Gaussian q(z|x) = N(mu, diag(sigma^2)), prior N(0, I). With
    z = mu + sigma eps, log q(z|x) = -0.5 sum_j (eps_j^2 + log sigma_j^2 + log 2 pi).
    """
    mu, logvar = model.encode(x)  # (N, d) each
    n, d = mu.shape
    mu_k, logvar_k = mu.expand(k, n, d), logvar.expand(k, n, d)  # (k, N, d), no copy
    z = reparameterize(mu_k, logvar_k, generator)  # (k, N, d)
    eps = (z - mu_k) * torch.exp(-0.5 * logvar_k)  # the standardised noise behind z
    log_q = -0.5 * (eps.pow(2) + logvar_k + LOG_2PI).sum(-1)  # (k, N)
    log_prior = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)  # (k, N)
    logits = model.decode_logits(z.reshape(k * n, d)).view(k, n, -1)  # (k, N, pixels)
    # -BCE(l, x) = x l - softplus(l) per pixel; contracting with x avoids making k copies of it.
    log_likelihood = torch.einsum("knp,np->kn", logits, x.flatten(1)) - F.softplus(logits).sum(-1)
    return log_likelihood + log_prior - log_q


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode inside the block, its previous mode restored after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def _batches(x: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    return list(x.split(batch_size))


@torch.no_grad()
def iwae_nats(
    model: nn.Module,
    x: torch.Tensor,
    k: int,
    batch_size: int = 500,
    chunk: int = 50,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """-L_k per image in nats, (N,): it over-estimates -log p(x) on average, less so as k grows.

    Runs the model in eval mode (BatchNorm uses its running statistics) without gradients and
    restores its mode. ``batch_size`` images times ``chunk`` samples are decoded at a time: the
    defaults decode 25,000 MNIST images per pass, about 80 MB of logits.
    """
    _check_binary(x)
    with _eval_mode(model):
        bounds = [
            iwae_bound(lambda xb, n: vae_log_weights(model, xb, n, generator), batch, k, chunk)
            for batch in _batches(x, batch_size)
        ]
    return -torch.cat(bounds)


@torch.no_grad()
def elbo_nats(
    model: nn.Module,
    x: torch.Tensor,
    batch_size: int = 500,
    samples: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """-ELBO per image in nats, (N,): the analytic KL plus a sampled reconstruction term.

    -ELBO = E_q[-log p(x|z)] + KL(q(z|x) || p(z)): the KL is exact (``gaussian_kl``), the
    expectation is averaged over ``samples`` draws of z. Its expectation equals that of the k = 1
    IWAE bound, with less variance because only the reconstruction term is random.
    Eval mode and no gradients, as in ``iwae_nats``.
    """
    _check_binary(x)
    with _eval_mode(model):
        values = []
        for batch in _batches(x, batch_size):
            mu, logvar = model.encode(batch)
            reconstruction = torch.stack(
                [reconstruction_bce(model.decode_logits(reparameterize(mu, logvar, generator)), batch)
                 for _ in range(samples)]
            ).mean(0)  # (samples, B) -> (B,)
            values.append(reconstruction + gaussian_kl(mu, logvar))
    return torch.cat(values)
