"""Checks of the coding exercises of notebooks 05 (GAN), 06 (DCGAN), 07 (WGAN) and 08 (cGAN).

References: scipy for the Jensen-Shannon divergence and the 1-D Wasserstein distance, the
identity -log sigmoid(a) = softplus(-a) in float64 for the GAN losses, closed-form gradients of
linear and quadratic critics for the penalty, the interpolation formula in float64 for slerp. See
``checking`` for the errors.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance
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

GAN_LOSS_NAMES = (
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "BCELoss",
    "BCEWithLogitsLoss",
    "discriminator_loss",
    "generator_loss_non_saturating",
    "generator_loss_saturating",
)


@exercise_check
def check_jsd(answer: Callable, *, seed: int = 0, size: int = 6) -> None:
    """Exercise 5.1: the Jensen-Shannon divergence of two discrete distributions, in nats."""
    exercise = "Exercise 5.1 (the Jensen-Shannon divergence)"
    forbid(
        exercise,
        answer,
        (
            "jensenshannon",
            "entropy",
            "entr",
            "rel_entr",
            "kl_div",
            "KLDivLoss",
            "kl_divergence",
            "distributions",
        ),
        "Write the two KL terms to the mixture yourself (torch.xlogy helps with zeros); your "
        "own helper functions are fine.",
    )
    generator = torch.Generator().manual_seed(seed)
    p, q = torch.rand(2, size, generator=generator) + 0.05
    p, q = p / p.sum(), q / q.sum()
    reference = jensenshannon(p.double().numpy(), q.double().numpy()) ** 2  # natural logarithm
    got = call_answer(exercise, answer, p, q)
    got = expect_scalar(exercise, got, what="the JSD", reduction=".sum() over the values")
    if torch.isclose(got.detach().double(), torch.tensor(2 * reference, dtype=torch.float64)):
        raise WrongAnswer(
            f"{exercise}: your value is twice the JSD: it is the mean of the two KL terms to the "
            "mixture, (KL(p || m) + KL(q || m)) / 2, not their sum."
        )
    expect_tensor(
        exercise,
        got,
        torch.tensor(reference, dtype=torch.float64),
        what=f"the JSD of two random distributions over {size} values (scipy's "
        f"jensenshannon(p, q) ** 2 = {reference:.6f})",
    )
    zeros = torch.tensor([0.5, 0.5, 0.0, 0.0, 0.0]), torch.tensor([0.0, 0.5, 0.25, 0.25, 0.0])
    partial = expect_scalar(exercise, call_answer(exercise, answer, *zeros), what="the JSD")
    if not torch.isfinite(partial):
        raise WrongAnswer(
            f"{exercise}: distributions with zeros give {partial.item()}: a value with p_i = 0 "
            "contributes 0 * log 0 = 0 to KL(p || m), also where m_i = 0; use torch.xlogy, or "
            "sum only where p > 0."
        )
    expected = jensenshannon(zeros[0].double().numpy(), zeros[1].double().numpy()) ** 2
    expect_tensor(
        exercise,
        partial,
        torch.tensor(expected, dtype=torch.float64),
        what="the JSD of (0.5, 0.5, 0, 0, 0) and (0, 0.5, 0.25, 0.25, 0)",
    )
    apart = call_answer(exercise, answer, torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]))
    expect_tensor(
        exercise,
        expect_scalar(exercise, apart, what="the JSD"),
        torch.tensor(math.log(2.0)),
        what="the JSD of two distributions without common support (log 2 = 0.6931)",
    )
    same = call_answer(exercise, answer, p, p)
    expect_tensor(
        exercise,
        expect_scalar(exercise, same, what="the JSD"),
        torch.tensor(0.0),
        what="the JSD of a distribution with itself",
    )
    correct(
        exercise,
        f"Matches scipy's jensenshannon squared ({reference:.4f} nats), handles zeros, and "
        "gives log 2 for disjoint "
        "supports however far apart: the saturation of exercise 3.",
    )


@exercise_check
def check_generator_loss(answer: Callable, *, seed: int = 0, batch: int = 6) -> None:
    """Exercise 5.2: the non-saturating loss -mean log D(G(z)) and its gradient where D rejects."""
    exercise = "Exercise 5.2 (the non-saturating generator loss)"
    forbid(exercise, answer, GAN_LOSS_NAMES, "Write it with F.softplus (or torch.log).")
    rejected = torch.full((4,), -10.0, requires_grad=True)  # D(G(z)) = sigmoid(-10), 4.5e-5
    loss = expect_scalar(exercise, call_answer(exercise, answer, rejected), what="the loss")
    if not loss.requires_grad:
        raise WrongAnswer(f"{exercise}: the loss carries no gradient back to the logits.")
    (gradient,) = torch.autograd.grad(loss, rejected)
    expected = -torch.sigmoid(torch.tensor(10.0, dtype=torch.float64)) / 4
    if gradient.abs().max() < 1e-3:
        raise WrongAnswer(
            f"{exercise}: where the discriminator rejects a sample (logit -10) your loss's "
            f"gradient is {gradient[0].item():.2g}; it should be {expected.item():.3f} per "
            "sample. This is the saturating loss log(1 - D(G(z))), which stops teaching G "
            "exactly when G is bad."
        )
    expect_tensor(
        exercise, gradient, expected.expand(4), what="the gradient at logits -10 (batch of 4)"
    )
    fake = torch.randn(batch, generator=torch.Generator().manual_seed(seed)) * 3
    got = expect_scalar(exercise, call_answer(exercise, answer, fake), what="the loss")
    expect_tensor(
        exercise,
        got,
        F.softplus(-fake.double()).mean(),
        what="the loss at random logits",
        tolerance=1e-5,
    )
    correct(exercise, "A gradient of about -1 / batch where D rejects the sample, and the value.")


@exercise_check
def check_generator_block(
    answer: Callable, *, in_channels: int = 8, out_channels: int = 4, side: int = 7
) -> None:
    """Exercise 6.1: ConvTranspose2d(4, 2, 1, bias=False), BatchNorm2d, ReLU; doubles the side."""
    exercise = "Exercise 6.1 (a DCGAN generator block)"
    block = call_answer(exercise, answer, in_channels, out_channels)
    if not isinstance(block, nn.Module):
        raise WrongAnswer(f"{exercise}: return an nn.Module (e.g. nn.Sequential).")
    layers = list(block.modules())
    transposed = [m for m in layers if isinstance(m, nn.ConvTranspose2d)]
    norms = [m for m in layers if isinstance(m, nn.BatchNorm2d)]
    if len(transposed) != 1:
        raise WrongAnswer(
            f"{exercise}: the block should hold one nn.ConvTranspose2d, found {len(transposed)}."
        )
    if len(norms) != 1 or not any(isinstance(m, nn.ReLU) for m in layers):
        raise WrongAnswer(f"{exercise}: the block needs a BatchNorm2d and then a ReLU.")
    conv = transposed[0]
    if conv.bias is not None:
        raise WrongAnswer(
            f"{exercise}: the transposed convolution has a bias. Batch norm subtracts the mean "
            "right after it, which cancels any bias: DCGAN leaves it out (bias=False)."
        )
    x = torch.randn(2, in_channels, side, side)
    order: list[str] = []
    hooks = [
        layer.register_forward_hook(lambda layer, i, o: order.append(type(layer).__name__))
        for layer in block.modules()
        if not list(layer.children())  # the layers themselves, not their containers
    ]
    try:
        y = call_answer(exercise, block.train(), x)
    finally:
        for hook in hooks:
            hook.remove()
    if order != ["ConvTranspose2d", "BatchNorm2d", "ReLU"]:
        raise WrongAnswer(
            f"{exercise}: the layers run in the order {' -> '.join(order)}; DCGAN's block runs "
            "ConvTranspose2d -> BatchNorm2d -> ReLU, once each."
        )
    expected_shape = (2, out_channels, 2 * side, 2 * side)
    if tuple(y.shape) != expected_shape:
        raise WrongAnswer(
            f"{exercise}: an input of shape {tuple(x.shape)} should come out {expected_shape} "
            f"(the side doubles: (n - 1) * 2 - 2 * 1 + 4 = 2n), got {tuple(y.shape)}. Use "
            "kernel_size=4, stride=2, padding=1."
        )
    if (y < 0).any():
        raise WrongAnswer(f"{exercise}: the output has negative values; end with the ReLU.")
    parameters = sum(p.numel() for p in block.parameters())
    expected = in_channels * out_channels * 16 + 2 * out_channels
    if parameters != expected:
        raise WrongAnswer(
            f"{exercise}: the block has {parameters} parameters; a 4 x 4 transposed "
            f"convolution without bias and a batch norm have {expected}."
        )
    correct(exercise, f"{tuple(x.shape)} -> {expected_shape}, {expected} parameters.")


def _slerp_reference(z0: torch.Tensor, z1: torch.Tensor, t: float) -> torch.Tensor:
    a, b = z0.double(), z1.double()
    cosine = (a * b).sum(-1, keepdim=True) / (
        a.norm(dim=-1, keepdim=True) * b.norm(dim=-1, keepdim=True)
    )
    omega = torch.arccos(cosine.clamp(-1.0, 1.0))
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


@exercise_check
def check_slerp(answer: Callable, *, seed: int = 0, batch: int = 3, dims: int = 100) -> None:
    """Exercise 6.2: spherical interpolation between two batches of codes, row by row."""
    exercise = "Exercise 6.2 (spherical interpolation)"
    generator = torch.Generator().manual_seed(seed)
    z0, z1 = torch.randn(2, batch, dims, generator=generator)
    for t in (0.0, 1.0):
        end = call_answer(exercise, answer, z0, z1, t)
        expect_tensor(exercise, end, z0 if t == 0 else z1, what=f"the code at t = {t:g}")
    middle = call_answer(exercise, answer, z0, z1, 0.5)
    if isinstance(middle, torch.Tensor) and torch.allclose(middle, (z0 + z1) / 2, atol=1e-5):
        shrink = ((z0 + z1) / 2).norm(dim=1) / z0.norm(dim=1)
        raise WrongAnswer(
            f"{exercise}: at t = 0.5 you return the straight-line midpoint, whose norm is "
            f"{shrink.mean().item():.2f} of the ends': a code the prior almost never draws in "
            f"{dims} dimensions. Interpolate along the great circle instead."
        )
    for t in (0.25, 0.5, 0.8):
        expect_tensor(
            exercise,
            call_answer(exercise, answer, z0, z1, t),
            _slerp_reference(z0, z1, t),
            what=f"the code at t = {t:g}",
            tolerance=1e-4,
        )
    correct(exercise, "Ends, and points along the great circle, as the slerp formula gives.")


class _QuadraticCritic(nn.Module):
    """D(x) = a ||x||^2 over each image's entries, whose gradient 2 a x is known."""

    def __init__(self, a: float) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a * (x**2).flatten(start_dim=1).sum(dim=1, keepdim=True)


@exercise_check
def check_gradient_penalty(
    answer: Callable, *, seed: int = 0, batch: int = 5, side: int = 3
) -> None:
    """Exercise 7.1: batch mean of (||grad D(x_hat)||_2 - 1)^2, trainable (create_graph)."""
    exercise = "Exercise 7.1 (the gradient penalty)"
    forbid(
        exercise,
        answer,
        ("gradient_penalty",),
        "Use torch.autograd.grad on the critic's scores at the interpolates.",
    )
    generator = torch.Generator().manual_seed(seed)
    shape = (batch, 1, side, side + 1)  # images, so that the norm must cover every pixel
    real, fake = torch.randn(2, *shape, generator=generator)
    alpha = torch.rand(batch, 1, 1, 1, generator=generator)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(side * (side + 1), 1))
    with torch.no_grad():
        linear[1].weight.copy_(torch.randn(1, side * (side + 1), generator=generator))
    got = call_answer(exercise, answer, linear, real, fake, alpha)
    got = expect_scalar(exercise, got, what="the penalty")
    norm = linear[1].weight.detach().double().norm()
    expect_tensor(
        exercise,
        got,
        (norm - 1) ** 2,
        what=f"the penalty of a linear critic on images, (||w|| - 1)^2 with ||w|| = "
        f"{norm.item():.3f} (the norm of each image's gradient over all its pixels)",
    )
    a = 0.7
    critic = _QuadraticCritic(a)
    penalty = call_answer(exercise, answer, critic, real, fake, alpha)
    penalty = expect_scalar(exercise, penalty, what="the penalty")
    x_hat = (alpha * real + (1 - alpha) * fake).double().flatten(start_dim=1)
    norms = 2 * a * x_hat.norm(dim=1)
    whole_batch = (2 * a * x_hat.norm() - 1) ** 2
    if torch.allclose(penalty.detach().double(), whole_batch, atol=1e-5):
        raise WrongAnswer(
            f"{exercise}: you took one norm over the whole batch; the penalty takes the norm "
            "of each sample's gradient (over its own pixels), then averages over the batch."
        )
    expect_tensor(
        exercise,
        penalty,
        ((norms - 1) ** 2).mean(),
        what=f"the penalty of the critic D(x) = {a} ||x||^2 at alpha real + (1 - alpha) fake",
        tolerance=1e-4,
    )
    if not penalty.requires_grad:
        raise WrongAnswer(
            f"{exercise}: the penalty cannot train the critic: it has no gradient with respect "
            "to the critic's weights. Pass create_graph=True to torch.autograd.grad."
        )
    (slope,) = torch.autograd.grad(penalty, critic.a)
    expected = (2 * (norms - 1) * norms / a).mean()  # d/da of (2 a ||x|| - 1)^2, averaged
    expect_tensor(exercise, slope, expected, what="d penalty / d a", tolerance=1e-4)
    correct(
        exercise, "Closed forms for a linear and a quadratic critic, and the critic's gradient."
    )


@exercise_check
def check_wasserstein_1d(answer: Callable, *, seed: int = 0, n: int = 50) -> None:
    """Exercise 7.2: W1 between two equal-size 1-D samples, mean |sorted a - sorted b|."""
    exercise = "Exercise 7.2 (the 1-D Wasserstein distance)"
    forbid(
        exercise,
        answer,
        ("wasserstein_distance", "wasserstein_distance_nd"),
        "Sort both samples and compare them in order.",
    )
    generator = torch.Generator().manual_seed(seed)
    a = torch.randn(n, generator=generator)
    b = torch.rand(n, generator=generator) * 4 - 1
    reference = wasserstein_distance(a.numpy(), b.numpy())
    got = expect_scalar(exercise, call_answer(exercise, answer, a, b), what="W1")
    unsorted = (a - b).abs().mean().item()
    if abs(float(got) - unsorted) < 1e-6 and abs(unsorted - reference) > 1e-3:
        raise WrongAnswer(
            f"{exercise}: you paired the i-th values of the two samples as they come; the "
            "cheapest transport in 1-D pairs them in sorted order."
        )
    expect_tensor(
        exercise,
        got.double(),
        torch.tensor(reference, dtype=torch.float64),
        what="W1 between a Gaussian and a uniform sample (scipy's value)",
        tolerance=1e-5,
    )
    for theta in (2.0, 20.0):  # two point masses: W1 = |theta|, however far apart
        shifted = call_answer(exercise, answer, torch.zeros(n), torch.full((n,), theta))
        shifted = expect_scalar(exercise, shifted, what="W1")
        expect_tensor(
            exercise,
            shifted.double(),
            torch.tensor(theta, dtype=torch.float64),
            what=f"W1 between delta(x) and delta(x - {theta:g})",
        )
    correct(
        exercise,
        f"Matches scipy ({reference:.4f}); W1(delta_0, delta_theta) = theta, where the JSD "
        f"would stay at log 2 = {math.log(2):.3f}.",
    )


@exercise_check
def check_condition_planes(
    answer: Callable, *, seed: int = 0, n_classes: int = 10, height: int = 5, width: int = 3
) -> None:
    """Exercise 8.1: labels (n,) -> one-hot planes (n, n_classes, H, W) for a discriminator."""
    exercise = "Exercise 8.1 (label planes)"
    labels = torch.randint(0, n_classes, (6,), generator=torch.Generator().manual_seed(seed))
    got = call_answer(exercise, answer, labels, n_classes, height, width)
    expected = torch.zeros(6, n_classes, height, width)
    for row, label in enumerate(labels.tolist()):
        expected[row, label] = 1.0
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (6, height, width, n_classes):
        raise WrongAnswer(
            f"{exercise}: the classes are on the last axis; put them on axis 1, as channels "
            f"(shape (n, {n_classes}, {height}, {width})), so that they can be concatenated "
            "with the image's channels."
        )
    expect_tensor(exercise, got, expected, what="the planes")
    if got.dtype != torch.float32:
        raise WrongAnswer(f"{exercise}: the planes should be float32 like images, got {got.dtype}.")
    correct(exercise, "One constant plane per class, 1 in the label's channel and 0 elsewhere.")


@exercise_check
def check_pix2pix_generator_loss(
    answer: Callable, *, seed: int = 0, l1_weight: float = 100.0
) -> None:
    """Exercise 8.2: -mean log D(x, G(x)) + lambda * mean |G(x) - y|."""
    exercise = "Exercise 8.2 (pix2pix's generator loss)"
    forbid(exercise, answer, GAN_LOSS_NAMES, "Write the adversarial part with F.softplus.")
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 1, 3, 3, generator=generator)  # PatchGAN: one logit per patch
    fake, target = torch.rand(2, 2, 3, 8, 8, generator=generator) * 2 - 1
    adversarial = F.softplus(-logits.double()).mean()
    reconstruction = (fake.double() - target.double()).abs().mean()
    same = call_answer(exercise, answer, logits, target, target, l1_weight)
    expect_tensor(
        exercise,
        expect_scalar(exercise, same, what="the result"),
        adversarial,
        what="the loss when G(x) equals the target (only the adversarial part is left)",
    )
    fooled = call_answer(exercise, answer, torch.full_like(logits, 40.0), fake, target, l1_weight)
    expect_tensor(
        exercise,
        expect_scalar(exercise, fooled, what="the result"),
        l1_weight * reconstruction,
        what=f"the loss when D is fooled everywhere (only lambda = {l1_weight:g} times the mean "
        "absolute error to the target is left)",
    )
    got = call_answer(exercise, answer, logits, fake, target, l1_weight)
    expect_tensor(
        exercise,
        expect_scalar(exercise, got, what="the result"),
        adversarial + l1_weight * reconstruction,
        what="the whole loss",
    )
    correct(exercise, "Both parts, and their sum with the weight on the L1 term.")
