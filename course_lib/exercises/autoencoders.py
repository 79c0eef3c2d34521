"""Checks of the coding exercises of notebooks 01 (autoencoder), 02 (denoising) and 03 (VAE).

Every ``check_*`` takes the student's function, and a ``seed`` and sizes that the public check
leaves at their defaults and the hidden checks change, so that an answer fitted to the public case
fails. See ``checking`` for what the errors mean.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from sklearn.decomposition import PCA
from torch import nn

from course_lib.exercises.checking import (
    WrongAnswer,
    call_answer,
    correct,
    exercise_check,
    expect_scalar,
    expect_tensor,
    forbid,
)

BCE_NAMES = (
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "BCELoss",
    "BCEWithLogitsLoss",
    "reconstruction_bce",
)


@exercise_check
def check_bce(answer: Callable, *, seed: int = 0, batch: int = 4, side: int = 3) -> None:
    """Exercise 1.1: BCE of probabilities, summed over pixels, averaged over images."""
    exercise = "Exercise 1.1 (binary cross-entropy)"
    forbid(exercise, answer, BCE_NAMES, "Write it with torch.log (or torch.xlogy) yourself.")
    generator = torch.Generator().manual_seed(seed)
    x_hat = torch.rand(batch, 1, side, side + 1, generator=generator) * 0.98 + 0.01
    x = torch.rand(batch, 1, side, side + 1, generator=generator)  # images: (n, 1, H, W)
    bernoulli = torch.distributions.Bernoulli(probs=x_hat.double(), validate_args=False)
    expected = -bernoulli.log_prob(x.double()).sum(dim=(1, 2, 3)).mean()
    got = call_answer(exercise, answer, x_hat, x)
    got = expect_scalar(exercise, got, what="the loss")
    expect_tensor(
        exercise,
        got,
        expected,
        what=f"the loss of {batch} random images of shape (1, {side}, {side + 1}) (summed over "
        "each image's pixels, averaged over the images)",
        tolerance=1e-4,
    )
    floor = call_answer(exercise, answer, torch.full((1, 1), 0.3), torch.full((1, 1), 0.3))
    entropy = -(0.3 * math.log(0.3) + 0.7 * math.log(0.7))
    expect_tensor(
        exercise, floor, torch.tensor(entropy), what="the loss of one pixel x = x_hat = 0.3"
    )
    sharp = torch.tensor([[0.0, 1.0, 0.5]])
    edge = expect_scalar(exercise, call_answer(exercise, answer, sharp, sharp), what="the loss")
    if not torch.isfinite(edge):
        raise WrongAnswer(
            f"{exercise}: a perfect reconstruction of pixels that are exactly 0 or 1 gives "
            f"{edge}. The terms 0 * log 0 must count as 0: use torch.xlogy(x, x_hat), or clamp "
            "the logarithms (torch's own BCE clamps them at -100)."
        )
    expect_tensor(
        exercise,
        edge,
        torch.tensor(math.log(2.0)),
        what="the loss of x = x_hat = (0, 1, 0.5), in which only the 0.5 pixel costs log 2",
    )
    correct(
        exercise,
        "Random images match torch.distributions.Bernoulli; the floor at x = 0.3 is the pixel's "
        f"entropy, {entropy:.4f} nats; pixels at exactly 0 and 1 cost nothing.",
    )


@exercise_check
def check_pca_directions(
    answer: Callable, *, seed: int = 0, n: int = 400, width: int = 8, d: int = 3
) -> None:
    """Exercise 1.2: the top-d principal directions, orthonormal, as the columns of (D, d)."""
    exercise = "Exercise 1.2 (principal directions)"
    forbid(
        exercise,
        answer,
        ("PCA", "pca_lowrank", "fit_pca", "TruncatedSVD"),
        "Use torch.linalg.svd or torch.linalg.eigh on the centred data.",
    )
    generator = torch.Generator().manual_seed(seed)
    scales = torch.linspace(3.0, 0.2, width)  # distinct variances: one principal subspace
    basis, _ = torch.linalg.qr(torch.randn(width, width, generator=generator))
    x = (torch.randn(n, width, generator=generator) * scales) @ basis.T + 5.0  # far from 0
    got = call_answer(exercise, answer, x, d)
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != (width, d):
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        raise WrongAnswer(
            f"{exercise}: for {n} images of {width} pixels and d = {d} the directions should be "
            f"the {d} columns of a ({width}, {d}) tensor, got {shape}."
        )
    got = got.double()
    expect_tensor(
        exercise,
        got.T @ got,
        torch.eye(d, dtype=torch.float64),
        what="the matrix of inner products of your directions (they must be orthonormal)",
        tolerance=1e-4,
    )
    reference = torch.from_numpy(PCA(n_components=d).fit(x.double().numpy()).components_.T)
    cosines = torch.linalg.svdvals(reference.T @ got)  # cosines of the principal angles
    largest_angle = math.degrees(math.acos(min(1.0, cosines.min().item())))
    if largest_angle > 0.1:
        hint = (
            " Did you centre the data (subtract each pixel's mean) first?"
            if largest_angle > 1.0
            else ""
        )
        raise WrongAnswer(
            f"{exercise}: your directions span a different subspace from scikit-learn's PCA: "
            f"they are up to {largest_angle:.1f} degrees apart (expected under 0.1).{hint}"
        )
    correct(
        exercise,
        f"Orthonormal, and within {largest_angle:.3f} degrees of scikit-learn's principal "
        "subspace on data whose mean is far from zero.",
    )


@exercise_check
def check_clipped_noise(answer: Callable, *, seed: int = 0, std: float = 0.3) -> None:
    """Exercise 2.1: x + std * eps, eps drawn with torch.randn(x.shape, generator=...), clipped."""
    exercise = "Exercise 2.1 (clipped Gaussian noise)"
    x = torch.zeros(16, 1, 28, 28)  # enough black pixels to see the veil
    x[:, :, 8:20, 12:16] = 1.0
    got = call_answer(exercise, answer, x, std, torch.Generator().manual_seed(seed))
    raw = x + std * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    if isinstance(got, torch.Tensor) and got.shape == x.shape and (got < 0).any():
        raise WrongAnswer(
            f"{exercise}: your noisy images have values below 0 (down to "
            f"{got.min().item():.3f}); clip them into [0, 1], the range of a grey level."
        )
    if isinstance(got, torch.Tensor) and torch.allclose(got, x):
        raise WrongAnswer(f"{exercise}: the images come back unchanged; add std * noise.")
    expect_tensor(
        exercise,
        got,
        raw.clamp(0.0, 1.0),
        what=(
            "the noisy images (draw the noise with torch.randn(x.shape, generator=generator), "
            "scale it by std, add it to x and clip to [0, 1])"
        ),
    )
    again = call_answer(exercise, answer, x, std, torch.Generator().manual_seed(seed))
    if not torch.equal(got, again):
        raise WrongAnswer(f"{exercise}: the same generator seed gave different noise.")
    black = got[x == 0]
    error = black.std().item() / math.sqrt(black.numel())
    veil = std / math.sqrt(2 * math.pi)
    correct(
        exercise,
        f"Black pixels now have mean {black.mean().item():.4f} +- {error:.4f} (standard error "
        f"over {black.numel():,} pixels); the closed form sigma / sqrt(2 pi) = {veil:.4f}, "
        "less a little for the clip at 1: the veil of exercise 5.",
    )


class _RecordingModel(nn.Module):
    """A stand-in network that remembers its input and returns a fixed image."""

    def __init__(self, output: torch.Tensor) -> None:
        super().__init__()
        self.output = output
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.detach().clone())
        return self.output


@exercise_check
def check_denoising_loss(answer: Callable, *, seed: int = 0, std: float = 0.3) -> None:
    """Exercise 2.2: mean squared error between model(noisy x) and the *clean* x."""
    exercise = "Exercise 2.2 (the denoising loss)"
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(3, 1, 6, 6, generator=generator)
    output = torch.rand(3, 1, 6, 6, generator=generator)
    model = _RecordingModel(output)
    got = call_answer(exercise, answer, model, x, std, torch.Generator().manual_seed(seed + 1))
    if len(model.inputs) != 1:
        raise WrongAnswer(
            f"{exercise}: the model was called {len(model.inputs)} times; call it once, on the "
            "noisy images."
        )
    fed = model.inputs[0]
    if torch.equal(fed, x):
        raise WrongAnswer(
            f"{exercise}: the model was given the clean images. Corrupt them first (with "
            "add_gaussian_noise(x, std, generator)) and feed the noisy ones."
        )
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed + 1))
    expect_tensor(
        exercise,
        fed,
        (x + std * noise).clamp(0.0, 1.0),
        what=f"the model's input (x with noise of level std = {std:g} drawn from the generator "
        "you were given, clipped to [0, 1]: my_noisy(x, std, generator) or "
        "add_gaussian_noise(x, std, generator))",
    )
    got = expect_scalar(exercise, got, what="the loss")
    noisy_target = ((output - fed) ** 2).mean()
    if torch.allclose(got.detach(), noisy_target):
        raise WrongAnswer(
            f"{exercise}: your loss compares the output with the noisy input it was given. "
            "The target must be the clean image: with a noisy target the best network copies "
            "the noise (exercise 1 of this notebook)."
        )
    expect_tensor(
        exercise,
        got,
        ((output - x) ** 2).mean(),
        what="the loss (mean squared error between the output and the clean images)",
    )
    correct(exercise, "The model sees noisy images and is scored against the clean ones.")


@exercise_check
def check_reparameterise(answer: Callable, *, seed: int = 0, batch: int = 5, dims: int = 3) -> None:
    """Exercise 3.1: z = mu + exp(log_var / 2) * eps, differentiable in mu and log_var."""
    exercise = "Exercise 3.1 (reparameterisation)"
    generator = torch.Generator().manual_seed(seed)
    mu = torch.randn(batch, dims, generator=generator, requires_grad=True)
    log_var = torch.randn(batch, dims, generator=generator, requires_grad=True)
    eps = torch.randn(batch, dims, generator=generator)
    z = call_answer(exercise, answer, mu, log_var, eps)
    std = torch.exp(0.5 * log_var.detach().double())
    variance_used = mu.detach().double() + torch.exp(log_var.detach().double()) * eps.double()
    if isinstance(z, torch.Tensor) and torch.allclose(z.detach().double(), variance_used):
        raise WrongAnswer(
            f"{exercise}: you multiplied the noise by the variance exp(log_var); it must be the "
            "standard deviation, exp(log_var / 2)."
        )
    expect_tensor(exercise, z, mu.detach().double() + std * eps.double(), what="z")
    if not z.requires_grad:
        raise WrongAnswer(
            f"{exercise}: z does not depend on mu and log_var through autograd (was it "
            "detached, or built with torch.tensor?); the point of the trick is the gradient."
        )
    grad_mu, grad_log_var = torch.autograd.grad(z.sum(), (mu, log_var), allow_unused=True)
    if grad_mu is None or grad_log_var is None:
        raise WrongAnswer(f"{exercise}: z has no gradient with respect to mu or log_var.")
    expect_tensor(exercise, grad_mu, torch.ones(batch, dims), what="dz/dmu")
    expect_tensor(exercise, grad_log_var, 0.5 * std * eps.double(), what="dz/dlog_var")
    correct(exercise, "Values and both gradients (dz/dmu = 1, dz/dlog_var = sigma eps / 2).")


@exercise_check
def check_iwae_bound(answer: Callable, *, seed: int = 0, batch: int = 4, k: int = 8) -> None:
    """Exercise 3.2: L_k = log (1/k) sum_i w_i per example, from log-weights (batch, k)."""
    exercise = "Exercise 3.2 (the importance-weighted bound)"
    forbid(
        exercise,
        answer,
        ("iwae_bound", "iwae_nats", "elbo_nats"),
        "Write it with torch.logsumexp.",
    )
    generator = torch.Generator().manual_seed(seed)
    log_weights = torch.randn(batch, k, generator=generator) * 3 - 100  # log p(x, z) - log q(z|x)
    reference = torch.tensor(
        [math.log(sum(math.exp(w) for w in row) / k) for row in log_weights.double().tolist()],
        dtype=torch.float64,
    )
    far = log_weights - 1000.0  # exp of these underflows to 0, in float32 and float64 alike
    got_far = call_answer(exercise, answer, far)
    if isinstance(got_far, torch.Tensor) and not torch.isfinite(got_far).all():
        raise WrongAnswer(
            f"{exercise}: for log-weights 1,000 nats lower your bound is "
            f"{got_far.flatten()[0].item()}: exp underflows to 0. Use "
            "torch.logsumexp(log_weights, dim=1) - log k, which subtracts the largest first."
        )
    expect_tensor(exercise, got_far, reference - 1000.0, what="L_k for log-weights 1,000 lower")
    got = call_answer(exercise, answer, log_weights)
    expect_tensor(
        exercise,
        got,
        reference,
        what=f"L_{k} of each example (shape (batch,); log-weights near -100 lose precision "
        "through exp, logsumexp keeps it)",
    )
    one = call_answer(exercise, answer, log_weights[:, :1])
    expect_tensor(
        exercise,
        one,
        log_weights[:, 0].double(),
        what="L_1, which is the single log-weight itself (the ELBO's estimate)",
    )
    gap = (reference - log_weights.double().mean(dim=1)).min().item()
    correct(
        exercise,
        f"Matches float64; stable 1,000 nats down; L_1 is the log-weight; here L_{k} exceeds "
        f"the mean log-weight by at least {gap:.2f} nats (Jensen).",
    )
