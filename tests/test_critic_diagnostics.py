"""Critic diagnostics of notebook 07: gradient norms, grid values, and the alpha check that must
tell one interpolation weight per example from one per pixel."""

import torch
from torch import nn

from course_lib.evaluation.critic_diagnostics import (
    critic_gradient_norms,
    critic_on_grid,
    interpolation_weights_used,
    one_alpha_per_example,
)
from course_lib.losses.adversarial import gradient_penalty


def per_pixel_gradient_penalty(critic, real, fake):
    """The known bug: alpha drawn with the images' shape, so x_hat leaves the segment."""
    alpha = torch.rand(real.shape)
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (gradients,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((gradients.flatten(1).norm(dim=1) - 1) ** 2).mean()


def images():
    g = torch.Generator().manual_seed(0)
    return torch.rand(8, 1, 28, 28, generator=g), torch.rand(8, 1, 28, 28, generator=g) + 2


def test_check_accepts_the_course_penalty():
    real, fake = images()
    alphas = interpolation_weights_used(gradient_penalty, real, fake)
    assert one_alpha_per_example(alphas)
    assert alphas.flatten(1).std(dim=1).max() < 1e-4  # one value per example
    assert alphas.flatten(1)[:, 0].std() > 0.05  # but different examples differ


def test_check_rejects_a_per_pixel_alpha():
    torch.manual_seed(0)
    real, fake = images()
    alphas = interpolation_weights_used(per_pixel_gradient_penalty, real, fake)
    torch.testing.assert_close(alphas.mean(), torch.tensor(0.5), atol=0.02, rtol=0)
    assert not one_alpha_per_example(alphas)


def test_linear_critic_cannot_tell_them_apart():
    # Why the check above is needed: with f(x) = w . x both penalties equal (||w|| - 1)^2.
    real, fake = images()
    critic = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 1, bias=False), nn.Flatten(0))
    expected = (critic[1].weight.norm() - 1) ** 2
    torch.testing.assert_close(gradient_penalty(critic, real, fake), expected)
    torch.testing.assert_close(per_pixel_gradient_penalty(critic, real, fake), expected)


def test_gradient_norms_match_the_closed_form():
    # f(x) = 0.5 ||x||^2 has gradient x, so the norm is ||x||; in float64 to check tightly.
    points = torch.randn(16, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))

    def critic(x):
        return 0.5 * (x**2).sum(dim=1)

    torch.testing.assert_close(critic_gradient_norms(critic, points), points.norm(dim=1))


def test_grid_values_are_the_critic_at_each_point():
    def critic(x):
        return x[:, 0] - 2 * x[:, 1]

    xs, ys, values = critic_on_grid(critic, limit=3.0, resolution=5)
    assert xs.shape == ys.shape == values.shape == (5, 5)
    torch.testing.assert_close(values, xs - 2 * ys)
    assert xs[0, -1] == 3.0 and ys[-1, 0] == 3.0 and xs[0, 0] == -3.0
