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

from course_lib.losses.vae import gaussian_kl, reconstruction_bce
from course_lib.models.vae import reparameterize

LOG_2PI = math.log(2 * math.pi)


LogWeightFn = Callable[[torch.Tensor, int], torch.Tensor]


def iwae_bound(
    log_weight_fn: LogWeightFn, x: torch.Tensor, k: int, chunk: int = 100
) -> torch.Tensor:
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
            "images BCE is not a log-density. Use binarized data, e.g. "
            "course_lib.data.mnist.binarized_mnist."
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
                [
                    reconstruction_bce(
                        model.decode_logits(reparameterize(mu, logvar, generator)), batch
                    )
                    for _ in range(samples)
                ]
            ).mean(0)  # (samples, B) -> (B,)
            values.append(reconstruction + gaussian_kl(mu, logvar))
    return torch.cat(values)
