"""VAEs: the reparameterisation trick, every model's shapes and interface, errors, tiny overfits."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib.losses.vae import gaussian_kl, reconstruction_bce, reconstruction_mse, vae_loss
from course_lib.models.vae import MLPVAE, ConvVAE, FaceVAE, reparameterize


def test_reparameterize_samples_have_the_right_mean_and_std():
    mu = torch.tensor([[-1.0, 0.0, 2.5]], dtype=torch.float64)
    logvar = torch.tensor([[0.0, -2.0, 1.0]], dtype=torch.float64)
    n = 200_000
    z = reparameterize(mu.expand(n, 3), logvar.expand(n, 3), torch.Generator().manual_seed(0))
    std = torch.exp(0.5 * logvar[0])
    # Standard errors: std / sqrt(n) for the mean, about std / sqrt(2 n) for the std.
    assert ((z.mean(0) - mu[0]).abs() < 5 * std / n**0.5).all()
    assert ((z.std(0) - std).abs() < 5 * std / (2 * n) ** 0.5).all()


def test_reparameterize_is_differentiable_in_mu_and_logvar():
    mu = torch.tensor([[0.5, -1.0]], dtype=torch.float64, requires_grad=True)
    logvar = torch.tensor([[0.2, -0.4]], dtype=torch.float64, requires_grad=True)
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(1))
    eps = (z - mu) / torch.exp(0.5 * logvar)
    z.sum().backward()
    # dz/dmu = 1 and dz/dlogvar = 0.5 sigma eps.
    torch.testing.assert_close(mu.grad, torch.ones_like(mu))
    torch.testing.assert_close(logvar.grad, (0.5 * torch.exp(0.5 * logvar) * eps).detach())
    inputs = (mu.detach().requires_grad_(), logvar.detach().requires_grad_())
    assert torch.autograd.gradcheck(
        lambda m, lv: reparameterize(m, lv, torch.Generator().manual_seed(2)), inputs
    )


def test_reparameterize_is_reproducible_with_a_generator():
    mu, logvar = torch.zeros(4, 3), torch.zeros(4, 3)
    a = reparameterize(mu, logvar, torch.Generator().manual_seed(3))
    b = reparameterize(mu, logvar, torch.Generator().manual_seed(3))
    c = reparameterize(mu, logvar, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="same shape"):
        reparameterize(torch.zeros(4, 3), torch.zeros(4, 2))


MODELS = {
    "mlp": (lambda: MLPVAE(hidden_dim=64, latent_dim=6), (1, 28, 28)),
    "conv": (lambda: ConvVAE(latent_dim=6), (1, 28, 28)),
    "face64": (lambda: FaceVAE(latent_dim=6, size=64, channels=(4, 8, 8, 16)), (3, 64, 64)),
    "face32": (lambda: FaceVAE(latent_dim=6, size=32, channels=(4, 8, 16)), (3, 32, 32)),
}


@pytest.mark.parametrize("name", MODELS)
def test_vae_interface_and_shapes(name):
    build, image_shape = MODELS[name]
    torch.manual_seed(0)
    model = build()
    x = torch.rand(5, *image_shape)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, 6)
    assert model.latent_dim == 6 and model.image_shape == image_shape
    z = torch.randn(5, 6)
    logits = model.decode_logits(z)
    assert logits.shape == (5, *image_shape)
    probabilities = model.decode(z)
    torch.testing.assert_close(probabilities, torch.sigmoid(logits))
    out, mu2, logvar2 = model(x, generator=torch.Generator().manual_seed(0))
    assert out.shape == (5, *image_shape)
    torch.testing.assert_close(mu2, mu)
    torch.testing.assert_close(logvar2, logvar)


@pytest.mark.parametrize("name", MODELS)
def test_vae_forward_decodes_a_reparameterised_sample(name):
    build, image_shape = MODELS[name]
    torch.manual_seed(0)
    model = build().eval()  # BatchNorm with running statistics: decode is a function of z alone
    x = torch.rand(3, *image_shape)
    logits, mu, logvar = model(x, generator=torch.Generator().manual_seed(7))
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(7))
    torch.testing.assert_close(logits, model.decode_logits(z))
    again, _, _ = model(x, generator=torch.Generator().manual_seed(8))
    assert not torch.equal(logits, again)


@pytest.mark.parametrize("name", MODELS)
def test_vae_shape_errors_are_clear(name):
    build, image_shape = MODELS[name]
    model = build()
    with pytest.raises(ValueError, match="Expected a batch of images of shape"):
        model.encode(torch.rand(2, *image_shape[1:]))  # channel axis missing
    with pytest.raises(ValueError, match=r"Expected latent codes of shape \(B, 6\)"):
        model.decode_logits(torch.randn(2, 7))
    with pytest.raises(ValueError, match=r"Expected latent codes"):
        model.decode(torch.randn(6))


def test_mlp_vae_is_the_seed_architecture():
    model = MLPVAE()
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    shapes = [(m.in_features, m.out_features) for m in linears]
    assert shapes == [
        (784, 400),
        (400, 400),
        (400, 20),
        (400, 20),
        (20, 400),
        (400, 400),
        (400, 784),
    ]
    slopes = {m.negative_slope for m in model.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.2}


def test_face_vae_follows_the_paper_blocks():
    model = FaceVAE(latent_dim=32, size=64)
    x = torch.rand(2, 3, 64, 64)
    shapes = []
    h = x
    for block in model.down:
        h = block(h)
        shapes.append(tuple(h.shape))
        assert [type(m) for m in block] == [nn.Conv2d, nn.BatchNorm2d, nn.LeakyReLU]
    assert shapes == [(2, 32, 32, 32), (2, 64, 16, 16), (2, 128, 8, 8), (2, 256, 4, 4)]
    assert model.dense[0].out_features == 4096  # the paper's 4,096-unit dense layer
    up_types = [type(block[0]) for block in model.up[:-1]]
    assert up_types == [nn.ConvTranspose2d] * 3 and isinstance(model.up[-1], nn.ConvTranspose2d)
    assert len(FaceVAE(size=32).down) == 3


@pytest.mark.parametrize("size", [4, 48, 100])
def test_face_vae_rejects_sizes_it_cannot_halve_to_four(size):
    with pytest.raises(ValueError, match="power of two"):
        FaceVAE(size=size)


def test_face_vae_needs_enough_channel_widths():
    with pytest.raises(ValueError, match="needs 5 blocks"):
        FaceVAE(size=128)


def blob_images(n: int, size: int = 28) -> torch.Tensor:
    """(n, 1, size, size) Gaussian blobs at random positions, values in (0, 1]."""
    g = torch.Generator().manual_seed(0)
    ys, xs = torch.meshgrid(torch.arange(float(size)), torch.arange(float(size)), indexing="ij")
    centres = torch.rand(n, 2, generator=g) * (size / 2) + size / 4
    d2 = (ys - centres[:, 0, None, None]) ** 2 + (
        xs - centres[:, 1, None, None]
    ) ** 2  # (n, size, size)
    return torch.exp(-d2 / 18).unsqueeze(1)


def overfit(model: nn.Module, x: torch.Tensor, reconstruction, steps: int) -> tuple[float, float]:
    """First and last negative ELBO of ``steps`` Adam steps on the batch ``x``."""
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(steps):
        logits, mu, logvar = model(x, generator=torch.Generator().manual_seed(step))
        loss = vae_loss(reconstruction(logits, x), gaussian_kl(mu, logvar))["total"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses[0], losses[-1]


@pytest.mark.parametrize(
    "build", [lambda: MLPVAE(hidden_dim=128, latent_dim=4), lambda: ConvVAE(latent_dim=4)]
)
def test_mnist_vaes_overfit_32_images(build):
    torch.manual_seed(0)
    first, last = overfit(build(), blob_images(32), reconstruction_bce, steps=150)
    # About 550-760 nats at initialisation, 100-130 after; BCE of these grey blobs cannot go below
    # their entropy, 92 nats, so 'half' is a large drop.
    assert last < 0.5 * first


def test_face_vae_overfits_32_images():
    torch.manual_seed(0)
    x = blob_images(32, 32).expand(32, 3, 32, 32) * torch.tensor([1.0, 0.6, 0.2]).view(1, 3, 1, 1)

    def mse_of_probabilities(logits, target):
        return reconstruction_mse(torch.sigmoid(logits), target)

    first, last = overfit(
        FaceVAE(latent_dim=4, size=32, channels=(8, 16, 32)), x, mse_of_probabilities, steps=150
    )
    assert last < 0.2 * first


def test_face_vae_max_variance_confines_sigma_squared_below_the_limit():
    torch.manual_seed(0)
    model = FaceVAE(latent_dim=8, size=32, max_variance=2.0)
    with torch.no_grad():
        model.logvar_head.bias.fill_(50.0)  # would mean sigma^2 = e^50 without the limit
        _, logvar = model.encode(torch.rand(4, 3, 32, 32))
    assert (logvar.exp() <= 2.0).all() and (logvar.exp() > 1.99).all()  # saturates at the limit
    free = FaceVAE(latent_dim=8, size=32)
    with torch.no_grad():
        free.logvar_head.bias.fill_(50.0)
        assert (free.encode(torch.rand(4, 3, 32, 32))[1] > 40).all()
    with pytest.raises(ValueError, match="positive"):
        FaceVAE(latent_dim=8, size=32, max_variance=0.0)
