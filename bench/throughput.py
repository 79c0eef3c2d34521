"""Training throughput of the course's training functions and the usual tutorial way, side by side.

For every model family of the course, one measurement trains the same model (same class, same
initial weights, same optimiser and hyper-parameters, same batch size, same number of images)
two ways in the same run:

* course: the course's own training function called as the notebooks call it (``fit``,
  ``train_rbm``, ``train_gan``, ``train_cyclegan``, ``train_stargan``, ``style.optimise.transfer``),
  on data held as one float tensor, already scaled, moved to the device once; the speed switches
  of ``fit`` and ``train_gan`` (bfloat16 autocast and channels_last in the gpu profile, CUDA
  only) are switched off, so that both paths do the same float32 maths;
* tutorial: a ``torch.utils.data.Dataset`` that keeps uint8 pixels and converts every item on
  access as torchvision's data sets do (PIL image, ``ToTensor``, ``Normalize`` for [-1, 1]),
  a ``DataLoader(dataset, batch_size, shuffle=True)`` with default settings (no worker
  processes), and a hand-written loop doing the same forward, backward and optimiser steps with
  ``.to(device)`` per batch. Where a piece of a step exists only in the course (CycleGAN's image
  pool, StarGAN's random target labels) the tutorial loop calls the course's function for it.

Throughput is images per second of training after a warm-up; Gatys style transfer gives
seconds per loss evaluation (one forward and backward pass through VGG-19) instead. The course's
loops keep their per-step extras (loss-finiteness checks, ``.item()`` for the history); the
tutorial loops read no loss at all, the leanest way to write them. Both paths see exactly the
same pixel values: images are stored as uint8 and the course tensor is made from those bytes
exactly as ``ToTensor`` would. Runs on the CPU, and on CUDA too whenever it is available.

    make bench-throughput
    .venv/bin/python bench/throughput.py --quick --models ae dcgan --out throughput-quick.md
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms
from torchvision.models import vgg19

import course_lib  # noqa: F401  (must come before torchvision, see course_lib/runtime/compat.py)
from course_lib.authoring.execution import machine_description
from course_lib.data.face_conditions import EXPRESSION, GLASSES, HAIR_COLOUR, MASK
from course_lib.data.face_domains import random_target_conditions, two_label_sets
from course_lib.data.images import bundled_image
from course_lib.data.mnist import binarized_mnist, load_mnist
from course_lib.data.mnist_m import digit_domains
from course_lib.losses.vae import gaussian_kl, reconstruction_bce, vae_loss
from course_lib.models.autoencoder import ConvAutoencoder
from course_lib.models.blocks import resnet_translator
from course_lib.models.critic import DCGANCritic
from course_lib.models.gan import DCGANDiscriminator, DCGANGenerator
from course_lib.models.pix2pix import PatchDiscriminator
from course_lib.models.rbm import BernoulliRBM
from course_lib.models.stargan import StarGANDiscriminator, StarGANGenerator
from course_lib.models.vae import ConvVAE
from course_lib.models.vgg_features import (
    CONTENT_LAYER,
    IMAGENET_MEAN,
    IMAGENET_STD,
    PAPER_LAYERS,
    STYLE_LAYERS,
    VGGFeatures,
)
from course_lib.objectives.cyclegan import CycleGAN, ImagePool
from course_lib.objectives.gan import StandardGAN
from course_lib.objectives.stargan import StarGAN
from course_lib.objectives.wgan import WGANGP
from course_lib.runtime.speed import Speed
from course_lib.training.adversarial import train_gan
from course_lib.training.fit import fit
from course_lib.training.image_optimiser import transfer
from course_lib.training.rbm import train_rbm
from course_lib.training.translation import train_cyclegan, train_stargan

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "RESULTS_THROUGHPUT.md"
MODELS = ("ae", "vae", "rbm", "dcgan", "wgan-gp", "cyclegan", "stargan", "gatys")
SEED = 0
# The course's speed switches off: on CUDA the gpu profile would make fit and train_gan run bfloat16
# autocast and channels_last, other step maths than the tutorial way's float32
# (on the CPU they are always off).
FLOAT32 = Speed()

# Hyper-parameters of the notebooks (cpu profile where the notebooks' sizes depend on it).
AE_CODE, VAE_LATENT, AE_BATCH = 16, 16, 128  # notebooks 01 and 03
RBM_HIDDEN, RBM_BATCH, RBM_RATE, RBM_MOMENTUM, RBM_K = 500, 100, 0.05, 0.5, 1  # notebook 04, CD-1
GAN_LATENT, GAN_WIDTH, GAN_BATCH, CRITIC_STEPS = 64, 32, 64, 5  # notebooks 06 and 07
CYCLE_WIDTH, CYCLE_BLOCKS, CYCLE_BATCH, CYCLE_WEIGHT = 16, 3, 32, 10.0  # notebook 09
STAR_WIDTH, STAR_BLOCKS, STAR_BATCH, STAR_D_STEPS, STAR_SIZE = 32, 3, 16, 5, 32  # notebook 09
STAR_CLS, STAR_REC, STAR_GP = 1.0, 10.0, 10.0  # StarGAN's default loss weights
GP_WEIGHT = 10.0
STYLE_ALPHA, STYLE_BETA = 1.0, 1e6  # notebook 10


@dataclass(frozen=True)
class Scale:
    """How much work one measurement does: images per row, Gatys sizes and evaluations, repeats."""

    images: dict[str, int]
    gatys_sizes: tuple[int, ...]
    gatys_steps: int
    repeats: int


DEFAULT_SCALE = Scale(
    images={
        "ae": 8000,
        "vae": 8000,
        "rbm": 8000,
        "dcgan": 4096,
        "wgan-gp": 3840,
        "cyclegan": 640,
        "stargan": 480,
    },
    gatys_sizes=(64, 128, 256),
    gatys_steps=12,
    repeats=3,
)
QUICK_SCALE = Scale(
    images={
        "ae": 256,
        "vae": 256,
        "rbm": 200,
        "dcgan": 128,
        "wgan-gp": 320,
        "cyclegan": 64,
        "stargan": 80,
    },
    gatys_sizes=(64,),
    gatys_steps=3,
    repeats=1,
)


@dataclass(frozen=True)
class Row:
    """A table row; ``unit`` is "images/s" (higher is better) or "s/iteration" (lower is)."""

    model: str
    what: str
    device: str
    unit: str
    course: float
    tutorial: float

    @property
    def ratio(self) -> float:
        """Course speed over tutorial speed: above 1 the course path is faster."""
        if self.unit == "images/s":
            return self.course / self.tutorial
        return self.tutorial / self.course


# ---------------------------------------------------------------------------------------------
# Data: uint8 pixels for the tutorial way, the very same values as one float tensor for the course


def to_pixels(images: torch.Tensor) -> np.ndarray:
    """Float images (N, C, H, W) in [0, 1] -> uint8 pixels, (N, H, W) grey or (N, H, W, 3) RGB.

    MNIST is stored as k / 255 already, so it survives unchanged; rendered faces and MNIST-M are
    rounded to the nearest of the 256 levels, for both paths alike.
    """
    levels = (images * 255).round().clamp(0, 255).to(torch.uint8)
    if levels.shape[1] == 1:
        return levels[:, 0].numpy()  # (N, 1, H, W) -> (N, H, W), as torchvision's MNIST keeps it
    return (
        levels.permute(0, 2, 3, 1).contiguous().numpy()
    )  # (N, 3, H, W) -> (N, H, W, 3), as CIFAR-10


def course_tensor(pixels: np.ndarray, signed: bool) -> torch.Tensor:
    """The float tensor (N, C, H, W) the course trains on, made exactly as ToTensor makes items."""
    levels = torch.from_numpy(pixels)
    if levels.dim() == 3:
        levels = levels.unsqueeze(1)  # (N, H, W) -> (N, 1, H, W)
    else:
        levels = levels.permute(0, 3, 1, 2)  # (N, H, W, 3) -> (N, 3, H, W)
    images = levels.contiguous().float().div(255)
    return images * 2 - 1 if signed else images  # the notebooks' scaling for tanh generators


def tutorial_transform(channels: int, signed: bool) -> transforms.Compose:
    """ToTensor, then Normalize(0.5, 0.5) to reach [-1, 1] when the model's outputs are tanh."""
    steps: list[Callable] = [transforms.ToTensor()]
    if signed:
        steps.append(transforms.Normalize((0.5,) * channels, (0.5,) * channels))
    return transforms.Compose(steps)


class UInt8Images(Dataset):
    """A torchvision-style data set: uint8 pixels in memory, each item converted when it is read.

    ``__getitem__`` builds a PIL image from the stored pixels and applies ``transform``, as
    ``torchvision.datasets.MNIST`` and ``CIFAR10`` do, and returns it with its target (a label or
    a condition vector).
    """

    def __init__(self, pixels: np.ndarray, targets: torch.Tensor, transform: Callable):
        self.pixels, self.targets, self.transform = pixels, targets, transform

    def __len__(self) -> int:
        return len(self.pixels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = Image.fromarray(self.pixels[index])  # mode "L" for (H, W), "RGB" for (H, W, 3)
        return self.transform(image), self.targets[index]


def tutorial_loader(
    pixels: np.ndarray, targets: torch.Tensor, signed: bool, batch: int
) -> DataLoader:
    channels = 1 if pixels.ndim == 3 else 3
    dataset = UInt8Images(pixels, targets, tutorial_transform(channels, signed))
    return DataLoader(dataset, batch_size=batch, shuffle=True)


def mnist_pixels(count: int, binarized: bool = False) -> tuple[np.ndarray, torch.Tensor, str]:
    """The first ``count`` digits of the notebooks' MNIST subset, with labels and source."""
    data = (binarized_mnist if binarized else load_mnist)(count, 1, seed=SEED)
    name = data_name(data.short_source) + (" binarized" if binarized else "")
    return to_pixels(data.train_images), data.train_labels, name


def data_name(short_source: str) -> str:
    """The source without counts: "MNIST", "MNIST offline pool" or "NOT MNIST: digits fallback"."""
    return short_source.split(",")[0]


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


# ---------------------------------------------------------------------------------------------
# Timing


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def whole(count: int, unit: int) -> int:
    """``count`` rounded down to whole units (minibatches, or k critic minibatches); at least 1."""
    return max(unit, count - count % unit)


def usable(requested: int, available: int, unit: int) -> int:
    """Images to train on: as many as asked, or as the source holds
    (MNIST's offline pool has 8,000), in whole units."""
    return whole(min(requested, available), unit)


def compare(
    course: Callable[[int], int],
    tutorial: Callable[[int], int],
    warm: int,
    count: int,
    repeats: int,
    device: str,
) -> tuple[float, float]:
    """(course, tutorial) images/s; each path trains on ``count`` images, best of ``repeats``.

    A path is called with a number of images and returns how many it trained on. Both paths
    are warmed up on ``warm`` images first (allocations, kernel choice, the loader's first
    batch), then timed in alternation, so a change of machine load hits both alike; the one
    timed first changes every round, so that neither always runs right after the warm-up.
    """
    course(warm)
    tutorial(warm)
    best = {course: math.inf, tutorial: math.inf}
    for round_ in range(repeats):
        for path in (course, tutorial) if round_ % 2 == 0 else (tutorial, course):
            synchronize(device)
            began = time.perf_counter()
            images = path(count)
            synchronize(device)
            best[path] = min(best[path], time.perf_counter() - began)
            if images != count:
                raise RuntimeError(
                    f"A path trained on {images} images instead of {count}: the comparison is "
                    "unfair."
                )
    return count / best[course], count / best[tutorial]


def set_requires_grad(modules: Iterable[nn.Module], flag: bool) -> None:
    """Freeze or unfreeze whole networks (the discriminators during a generator step)."""
    for module in modules:
        for parameter in module.parameters():
            parameter.requires_grad_(flag)


def adam(
    parameters, lr: float, betas: tuple[float, float], weight_decay: float = 0.0
) -> torch.optim.Adam:
    return torch.optim.Adam(parameters, lr=lr, betas=betas, weight_decay=weight_decay)


# ---------------------------------------------------------------------------------------------
# Autoencoder (notebook 01): ConvAutoencoder, MSE, Adam 1e-3 with weight decay 1e-5


def mse_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(model(x), x)


def course_fit_epoch(
    model: nn.Module, loss_fn, optimizer, data: torch.Tensor, batch: int, device: str
) -> int:
    with contextlib.redirect_stdout(io.StringIO()):  # fit prints one line per epoch
        fit(
            model,
            loss_fn,
            data,
            optimizer=optimizer,
            epochs=1,
            batch_size=batch,
            seed=SEED,
            device=device,
            speed=FLOAT32,
        )
    return len(data)


def tutorial_fit_epoch(
    model: nn.Module, loss_of, optimizer, loader: DataLoader, device: str
) -> int:
    """The tutorials' loop: move a batch, compute ``loss_of(model, x)`` (as the notebooks), step."""
    images = 0
    for x, _ in loader:
        x = x.to(device)
        loss = loss_of(model, x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        images += len(x)
    return images


def measure_ae(device: str, scale: Scale) -> list[Row]:
    pixels, labels, source = mnist_pixels(scale.images["ae"])
    count = usable(scale.images["ae"], len(pixels), AE_BATCH)
    data = course_tensor(pixels, signed=False).to(device)
    torch.manual_seed(SEED)
    course_model = ConvAutoencoder(AE_CODE).to(device)
    tutorial_model = copy.deepcopy(course_model)
    course_opt = adam(course_model.parameters(), 1e-3, (0.9, 0.999), weight_decay=1e-5)
    tutorial_opt = adam(tutorial_model.parameters(), 1e-3, (0.9, 0.999), weight_decay=1e-5)
    rates = compare(
        lambda n: course_fit_epoch(course_model, mse_loss, course_opt, data[:n], AE_BATCH, device),
        lambda n: tutorial_fit_epoch(
            tutorial_model,
            mse_loss,
            tutorial_opt,
            tutorial_loader(pixels[:n], labels[:n], False, AE_BATCH),
            device,
        ),
        2 * AE_BATCH,
        count,
        scale.repeats,
        device,
    )
    what = (
        f"{source}; 28 px, batch {AE_BATCH}, {count:,} images ({plural(count // AE_BATCH, 'step')})"
    )
    return [Row(f"AE (conv, d={AE_CODE}, MSE)", what, device, "images/s", *rates)]


# ---------------------------------------------------------------------------------------------
# VAE (notebook 03): ConvVAE on binarized MNIST, Bernoulli decoder, Adam 1e-3


def bernoulli_vae_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    logits, mu, logvar = model(x)
    return vae_loss(reconstruction_bce(logits, x), gaussian_kl(mu, logvar))["total"]


def tutorial_vae_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The tutorials' ELBO: summed BCE plus the closed-form KL, divided by the batch size."""
    logits, mu, logvar = model(x)
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return (bce + kld) / len(x)


def measure_vae(device: str, scale: Scale) -> list[Row]:
    pixels, labels, source = mnist_pixels(scale.images["vae"], binarized=True)
    count = usable(scale.images["vae"], len(pixels), AE_BATCH)
    data = course_tensor(pixels, signed=False).to(device)
    torch.manual_seed(SEED)
    course_model = ConvVAE(VAE_LATENT).to(device)
    tutorial_model = copy.deepcopy(course_model)
    course_opt = adam(course_model.parameters(), 1e-3, (0.9, 0.999))
    tutorial_opt = adam(tutorial_model.parameters(), 1e-3, (0.9, 0.999))
    rates = compare(
        lambda n: course_fit_epoch(
            course_model, bernoulli_vae_loss, course_opt, data[:n], AE_BATCH, device
        ),
        lambda n: tutorial_fit_epoch(
            tutorial_model,
            tutorial_vae_loss,
            tutorial_opt,
            tutorial_loader(pixels[:n], labels[:n], False, AE_BATCH),
            device,
        ),
        2 * AE_BATCH,
        count,
        scale.repeats,
        device,
    )
    what = (
        f"{source}; 28 px, batch {AE_BATCH}, {count:,} images ({plural(count // AE_BATCH, 'step')})"
    )
    return [Row(f"VAE (conv, d={VAE_LATENT})", what, device, "images/s", *rates)]


# ---------------------------------------------------------------------------------------------
# RBM (notebook 04): 784-500 Bernoulli RBM, CD-1, momentum 0.5, learning rate decaying to zero


@torch.no_grad()
def tutorial_cd_step(
    rbm: BernoulliRBM, v0: torch.Tensor, k: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CD-k ascent directions (weight, visible bias, hidden bias) for a batch v0 (B, n_visible)."""
    positive, h = rbm.sample_hidden(v0, generator)
    for _ in range(k):
        _, v = rbm.sample_visible(h, generator)
        negative, h = rbm.sample_hidden(v, generator)
    return (
        (v0.t() @ positive - v.t() @ negative) / len(v0),
        (v0 - v).mean(0),
        (positive - negative).mean(0),
    )


def tutorial_rbm_epoch(rbm: BernoulliRBM, loader: DataLoader, device: str) -> int:
    parameters = (rbm.weight, rbm.visible_bias, rbm.hidden_bias)
    velocity = [torch.zeros_like(p) for p in parameters]
    generator = torch.Generator(device).manual_seed(SEED)
    steps = len(loader)
    images = 0
    with torch.no_grad():
        for step, (x, _) in enumerate(loader):
            v0 = x.to(device).view(len(x), -1)  # (B, 1, 28, 28) -> (B, 784)
            rate = RBM_RATE * (1 - step / steps)
            for parameter, change, direction in zip(
                parameters, velocity, tutorial_cd_step(rbm, v0, RBM_K, generator)
            ):
                change.mul_(RBM_MOMENTUM).add_(
                    direction, alpha=rate
                )  # momentum: velocity = m velocity + lr direction
                parameter.add_(change)
            images += len(x)
    return images


def measure_rbm(device: str, scale: Scale) -> list[Row]:
    pixels, labels, source = mnist_pixels(scale.images["rbm"], binarized=True)
    count = usable(scale.images["rbm"], len(pixels), RBM_BATCH)
    data = (
        course_tensor(pixels, signed=False).flatten(1).to(device)
    )  # (N, 1, 28, 28) -> (N, 784), as notebook 04
    torch.manual_seed(SEED)
    course_rbm = BernoulliRBM(784, RBM_HIDDEN).to(device)
    tutorial_rbm = copy.deepcopy(course_rbm)

    def course(n: int) -> int:
        train_rbm(
            course_rbm,
            data[:n],
            epochs=1,
            batch_size=RBM_BATCH,
            learning_rate=RBM_RATE,
            k=RBM_K,
            momentum=RBM_MOMENTUM,
            decay_to_zero=True,
            seed=SEED,
        )
        return n

    rates = compare(
        course,
        lambda n: tutorial_rbm_epoch(
            tutorial_rbm, tutorial_loader(pixels[:n], labels[:n], False, RBM_BATCH), device
        ),
        2 * RBM_BATCH,
        count,
        scale.repeats,
        device,
    )
    what = (
        f"{source}; 784 visible, {RBM_HIDDEN} hidden, batch {RBM_BATCH}, {count:,} images "
        f"({plural(count // RBM_BATCH, 'step')})"
    )
    return [Row(f"RBM (CD-{RBM_K})", what, device, "images/s", *rates)]


# ---------------------------------------------------------------------------------------------
# GANs (notebooks 06 and 07): DCGAN with the non-saturating loss; WGAN-GP with 5 critic steps


def tutorial_discriminator_loss(
    generator: nn.Module, discriminator: nn.Module, real: torch.Tensor, z: torch.Tensor
) -> torch.Tensor:
    """BCE on logits: real images labelled 1, G(z) labelled 0."""
    criterion = nn.BCEWithLogitsLoss()
    with torch.no_grad():
        fake = generator(z)
    real_logits, fake_logits = discriminator(real), discriminator(fake)
    return criterion(real_logits, torch.ones_like(real_logits)) + criterion(
        fake_logits, torch.zeros_like(fake_logits)
    )


def tutorial_generator_loss(
    generator: nn.Module, discriminator: nn.Module, z: torch.Tensor
) -> torch.Tensor:
    """The non-saturating loss: G(z) labelled 1."""
    fake_logits = discriminator(generator(z))
    return nn.BCEWithLogitsLoss()(fake_logits, torch.ones_like(fake_logits))


def tutorial_dcgan_epoch(
    generator: nn.Module, discriminator: nn.Module, d_opt, g_opt, loader: DataLoader, device: str
) -> int:
    images = 0
    for real, _ in loader:
        real = real.to(device)
        z = torch.randn(len(real), GAN_LATENT, device=device)
        d_loss = tutorial_discriminator_loss(generator, discriminator, real, z)
        d_opt.zero_grad()
        d_loss.backward()
        d_opt.step()

        set_requires_grad([discriminator], False)
        g_loss = tutorial_generator_loss(
            generator, discriminator, torch.randn(len(real), GAN_LATENT, device=device)
        )
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        set_requires_grad([discriminator], True)
        images += len(real)
    return images


def tutorial_gradient_penalty(
    score: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor
) -> torch.Tensor:
    """mean (||grad score(x_hat)|| - 1)^2 on random points x_hat between real and fake examples."""
    alpha = torch.rand(
        len(real), 1, 1, 1, device=real.device
    )  # one weight per example: (B, 1, 1, 1)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (gradients,) = torch.autograd.grad(score(mixed).sum(), mixed, create_graph=True)
    return ((gradients.flatten(1).norm(dim=1) - 1) ** 2).mean()


def tutorial_critic_loss(
    generator: nn.Module, critic: nn.Module, real: torch.Tensor, z: torch.Tensor
) -> torch.Tensor:
    with torch.no_grad():
        fake = generator(z)
    return (
        critic(fake).mean()
        - critic(real).mean()
        + GP_WEIGHT * tutorial_gradient_penalty(critic, real, fake)
    )


def tutorial_wgan_gp_epoch(
    generator: nn.Module, critic: nn.Module, d_opt, g_opt, loader: DataLoader, device: str
) -> int:
    images = 0
    for step, (real, _) in enumerate(loader):
        real = real.to(device)
        d_loss = tutorial_critic_loss(
            generator, critic, real, torch.randn(len(real), GAN_LATENT, device=device)
        )
        d_opt.zero_grad()
        d_loss.backward()
        d_opt.step()
        images += len(real)
        if (step + 1) % CRITIC_STEPS == 0:  # one generator step after every n_critic critic steps
            set_requires_grad([critic], False)
            g_loss = -critic(generator(torch.randn(len(real), GAN_LATENT, device=device))).mean()
            g_opt.zero_grad()
            g_loss.backward()
            g_opt.step()
            set_requires_grad([critic], True)
    return images


def measure_gan(device: str, scale: Scale, wasserstein: bool) -> list[Row]:
    key, d_steps = ("wgan-gp", CRITIC_STEPS) if wasserstein else ("dcgan", 1)
    pixels, labels, source = mnist_pixels(scale.images[key])
    count = usable(scale.images[key], len(pixels), GAN_BATCH * d_steps)
    data = course_tensor(pixels, signed=True).to(device)
    torch.manual_seed(SEED)
    generator = DCGANGenerator(GAN_LATENT, 28, 1, GAN_WIDTH)
    if wasserstein:  # notebook 07: Adam 1e-4, betas (0, 0.9)
        objective, betas, lr = (
            WGANGP(generator, DCGANCritic(28, 1, GAN_WIDTH), GP_WEIGHT),
            (0.0, 0.9),
            1e-4,
        )
    else:  # notebook 06: Adam 2e-4, betas (0.5, 0.999)
        objective, betas, lr = (
            StandardGAN(generator, DCGANDiscriminator(28, 1, GAN_WIDTH)),
            (0.5, 0.999),
            2e-4,
        )
    objective.to(device)
    tutorial_g, tutorial_d = (
        copy.deepcopy(objective.generator),
        copy.deepcopy(objective.discriminator),
    )
    course_d_opt = adam(objective.discriminator_parameters(), lr, betas)
    course_g_opt = adam(objective.generator_parameters(), lr, betas)
    tutorial_d_opt, tutorial_g_opt = (
        adam(tutorial_d.parameters(), lr, betas),
        adam(tutorial_g.parameters(), lr, betas),
    )
    tutorial_epoch = tutorial_wgan_gp_epoch if wasserstein else tutorial_dcgan_epoch

    def course(n: int) -> int:
        history = train_gan(
            objective,
            data[:n],
            epochs=1,
            batch_size=GAN_BATCH,
            d_steps=d_steps,
            latent_dim=GAN_LATENT,
            d_optimizer=course_d_opt,
            g_optimizer=course_g_opt,
            seed=SEED,
            device=device,
            speed=FLOAT32,
        )
        return len(history.g_loss) * d_steps * GAN_BATCH

    rates = compare(
        course,
        lambda n: tutorial_epoch(
            tutorial_g,
            tutorial_d,
            tutorial_d_opt,
            tutorial_g_opt,
            tutorial_loader(pixels[:n], labels[:n], True, GAN_BATCH),
            device,
        ),
        GAN_BATCH * d_steps,
        count,
        scale.repeats,
        device,
    )
    steps = count // (GAN_BATCH * d_steps)
    if wasserstein:
        name = f"WGAN-GP (DCGAN G + layer-norm critic, width {GAN_WIDTH})"
        what = (
            f"{source}; 28 px, batch {GAN_BATCH}, {count:,} images "
            f"({plural(steps, 'generator step')}, each after {d_steps} critic steps)"
        )
    else:
        name = f"DCGAN (width {GAN_WIDTH})"
        what = (
            f"{source}; 28 px, batch {GAN_BATCH}, {count:,} images ({plural(steps, 'D + G step')})"
        )
    return [Row(name, what, device, "images/s", *rates)]


# ---------------------------------------------------------------------------------------------
# CycleGAN (notebook 09): MNIST (grey) <-> MNIST-M style (RGB), LSGAN, cycle weight 10, pool 50


def cyclegan_networks() -> tuple[nn.Module, nn.Module, nn.Module, nn.Module]:
    """(G: A -> B, F: B -> A, D_A, D_B) as notebook 09 builds them."""
    return (
        resnet_translator(1, 3, CYCLE_WIDTH, 2, CYCLE_BLOCKS),
        resnet_translator(3, 1, CYCLE_WIDTH, 2, CYCLE_BLOCKS),
        PatchDiscriminator(1, CYCLE_WIDTH, 2, norm="instance"),
        PatchDiscriminator(3, CYCLE_WIDTH, 2, norm="instance"),
    )


def tutorial_cycle_generator_loss(
    g_ab, g_ba, d_a, d_b, real_a, real_b
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(both generators' loss, G(a), F(b)): least-squares GAN terms plus lambda times cycle L1."""
    fake_b, fake_a = g_ab(real_a), g_ba(real_b)
    score_b, score_a = d_b(fake_b), d_a(fake_a)
    adversarial = F.mse_loss(score_b, torch.ones_like(score_b)) + F.mse_loss(
        score_a, torch.ones_like(score_a)
    )
    cycle = F.l1_loss(g_ba(fake_b), real_a) + F.l1_loss(g_ab(fake_a), real_b)
    return adversarial + CYCLE_WEIGHT * cycle, fake_b, fake_a


def tutorial_lsgan_d_loss(
    discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor
) -> torch.Tensor:
    real_score, fake_score = discriminator(real), discriminator(fake.detach())
    real_term = F.mse_loss(real_score, torch.ones_like(real_score))
    return 0.5 * (real_term + F.mse_loss(fake_score, torch.zeros_like(fake_score)))


def tutorial_cyclegan_epoch(nets, g_opt, d_opt, loaders, device: str) -> int:
    g_ab, g_ba, d_a, d_b = nets
    pool_a, pool_b = (
        ImagePool(50, seed=SEED),
        ImagePool(50, seed=SEED + 1),
    )  # the paper's history of 50 translations
    images = 0
    for (real_a, _), (real_b, _) in zip(*loaders):
        real_a, real_b = real_a.to(device), real_b.to(device)
        set_requires_grad([d_a, d_b], False)
        g_loss, fake_b, fake_a = tutorial_cycle_generator_loss(g_ab, g_ba, d_a, d_b, real_a, real_b)
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        set_requires_grad([d_a, d_b], True)
        d_loss = tutorial_lsgan_d_loss(d_a, real_a, pool_a.query(fake_a)) + tutorial_lsgan_d_loss(
            d_b, real_b, pool_b.query(fake_b)
        )
        d_opt.zero_grad()
        d_loss.backward()
        d_opt.step()
        images += len(real_a)
    return images


def measure_cyclegan(device: str, scale: Scale) -> list[Row]:
    mnist = load_mnist(2 * scale.images["cyclegan"], 1, seed=SEED)
    domains = digit_domains(
        mnist.train_images, mnist.train_labels, seed=SEED
    )  # two disjoint halves
    count = usable(scale.images["cyclegan"], len(domains.mnist_m), CYCLE_BATCH)
    pixels_a, pixels_b = to_pixels(domains.mnist[:count]), to_pixels(domains.mnist_m[:count])
    labels_a, labels_b = domains.mnist_labels[:count], domains.mnist_m_labels[:count]
    data_a, data_b = (
        course_tensor(pixels_a, signed=True).to(device),
        course_tensor(pixels_b, signed=True).to(device),
    )
    torch.manual_seed(SEED)
    objective = CycleGAN(*cyclegan_networks(), cycle_weight=CYCLE_WEIGHT, identity_weight=0.0).to(
        device
    )
    nets = tuple(
        copy.deepcopy(net) for net in (objective.g_ab, objective.g_ba, objective.d_a, objective.d_b)
    )
    betas = (0.5, 0.999)
    course_g_opt = adam(objective.generator_parameters(), 2e-4, betas)
    course_d_opt = adam(objective.discriminator_parameters(), 2e-4, betas)
    tutorial_g_opt = adam([p for net in nets[:2] for p in net.parameters()], 2e-4, betas)
    tutorial_d_opt = adam([p for net in nets[2:] for p in net.parameters()], 2e-4, betas)

    def course(n: int) -> int:
        history = train_cyclegan(
            objective,
            data_a[:n],
            data_b[:n],
            epochs=1,
            batch_size=CYCLE_BATCH,
            g_optimizer=course_g_opt,
            d_optimizer=course_d_opt,
            seed=SEED,
            device=device,
        )
        return len(history.g_loss) * CYCLE_BATCH

    def tutorial(n: int) -> int:
        loaders = (
            tutorial_loader(pixels_a[:n], labels_a[:n], True, CYCLE_BATCH),
            tutorial_loader(pixels_b[:n], labels_b[:n], True, CYCLE_BATCH),
        )
        return tutorial_cyclegan_epoch(nets, tutorial_g_opt, tutorial_d_opt, loaders, device)

    rates = compare(course, tutorial, CYCLE_BATCH, count, scale.repeats, device)
    what = (
        f"{data_name(mnist.short_source)} split into MNIST / MNIST-M style; 28 px, width "
        f"{CYCLE_WIDTH}, {CYCLE_BLOCKS} blocks, batch {CYCLE_BATCH}, {count:,} images of each "
        f"domain ({plural(count // CYCLE_BATCH, 'step')})"
    )
    return [Row("CycleGAN (1 <-> 3 channels)", what, device, "images/s", *rates)]


# ---------------------------------------------------------------------------------------------
# StarGAN (notebook 09): faces with two label sets; WGAN-GP, classification, reconstruction


def tutorial_label_loss(logits: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
    """-log D_cls(labels | x) over each example's own labels (hair and glasses, or expression)."""
    own = condition[:, MASK].argmax(1)  # 0: hair colour and glasses are labelled, 1: expression
    hair = F.cross_entropy(
        logits[:, HAIR_COLOUR], condition[:, HAIR_COLOUR].argmax(1), reduction="none"
    )
    glasses = F.binary_cross_entropy_with_logits(
        logits[:, GLASSES], condition[:, GLASSES], reduction="none"
    )[:, 0]
    expression = F.cross_entropy(
        logits[:, EXPRESSION], condition[:, EXPRESSION].argmax(1), reduction="none"
    )
    return torch.where(own == 0, hair + glasses, expression).mean()


def tutorial_stargan_d_loss(generator, discriminator, real, condition, target) -> torch.Tensor:
    with torch.no_grad():
        fake = generator(real, target)
    real_src, real_cls = discriminator(real)
    fake_src, _ = discriminator(fake)
    penalty = tutorial_gradient_penalty(
        lambda x: discriminator(x)[0].flatten(1).mean(1), real, fake
    )
    return (
        fake_src.mean()
        - real_src.mean()
        + STAR_GP * penalty
        + STAR_CLS * tutorial_label_loss(real_cls, condition)
    )


def tutorial_stargan_g_loss(generator, discriminator, real, condition, target) -> torch.Tensor:
    fake = generator(real, target)
    fake_src, fake_cls = discriminator(fake)
    reconstruction = (real - generator(fake, condition)).abs().mean()
    return (
        -fake_src.mean()
        + STAR_CLS * tutorial_label_loss(fake_cls, target)
        + STAR_REC * reconstruction
    )


def random_targets(condition: torch.Tensor) -> torch.Tensor:
    """Random target labels within each example's own data set
    (the course's sampler, on the CPU batch)."""
    return random_target_conditions(condition[:, MASK].argmax(1))


def tutorial_stargan_epoch(
    generator, discriminator, g_opt, d_opt, loader: DataLoader, device: str
) -> int:
    images = 0
    for step, (real, labels) in enumerate(loader):
        real, condition = real.to(device), labels.to(device)
        d_loss = tutorial_stargan_d_loss(
            generator, discriminator, real, condition, random_targets(labels).to(device)
        )
        d_opt.zero_grad()
        d_loss.backward()
        d_opt.step()
        images += len(real)
        if (step + 1) % STAR_D_STEPS == 0:  # G's step reuses the last minibatch with new targets
            set_requires_grad([discriminator], False)
            target = random_targets(labels).to(device)
            g_loss = tutorial_stargan_g_loss(generator, discriminator, real, condition, target)
            g_opt.zero_grad()
            g_loss.backward()
            g_opt.step()
            set_requires_grad([discriminator], True)
    return images


def measure_stargan(device: str, scale: Scale) -> list[Row]:
    count = whole(scale.images["stargan"], STAR_BATCH * STAR_D_STEPS)
    faces = two_label_sets(count, size=STAR_SIZE, seed=SEED)
    pixels = to_pixels(faces.images)
    data = course_tensor(pixels, signed=True).to(device)
    conditions = faces.condition.to(device)
    torch.manual_seed(SEED)
    objective = StarGAN(
        StarGANGenerator(3, 13, STAR_WIDTH, 2, STAR_BLOCKS),
        StarGANDiscriminator(STAR_SIZE, 3, 11, STAR_WIDTH),
    ).to(device)
    generator, discriminator = (
        copy.deepcopy(objective.generator),
        copy.deepcopy(objective.discriminator),
    )
    betas = (0.5, 0.999)
    course_g_opt = adam(objective.generator.parameters(), 1e-4, betas)
    course_d_opt = adam(objective.discriminator.parameters(), 1e-4, betas)
    tutorial_g_opt = adam(generator.parameters(), 1e-4, betas)
    tutorial_d_opt = adam(discriminator.parameters(), 1e-4, betas)

    def course(n: int) -> int:
        history = train_stargan(
            objective,
            data[:n],
            conditions[:n],
            epochs=1,
            batch_size=STAR_BATCH,
            d_steps=STAR_D_STEPS,
            g_optimizer=course_g_opt,
            d_optimizer=course_d_opt,
            seed=SEED,
            device=device,
        )
        return len(history.g_loss) * STAR_D_STEPS * STAR_BATCH

    rates = compare(
        course,
        lambda n: tutorial_stargan_epoch(
            generator,
            discriminator,
            tutorial_g_opt,
            tutorial_d_opt,
            tutorial_loader(pixels[:n], faces.condition[:n], True, STAR_BATCH),
            device,
        ),
        STAR_BATCH * STAR_D_STEPS,
        count,
        scale.repeats,
        device,
    )
    steps = count // (STAR_BATCH * STAR_D_STEPS)
    what = (
        f"cartoon faces, two label sets; {STAR_SIZE} px, width {STAR_WIDTH}, {STAR_BLOCKS} blocks, "
        f"batch {STAR_BATCH}, {count:,} images ({plural(steps, 'generator step')}, each after "
        f"{STAR_D_STEPS} D steps)"
    )
    return [Row("StarGAN", what, device, "images/s", *rates)]


# ---------------------------------------------------------------------------------------------
# Gatys style transfer (notebook 10): VGG-19 with average pooling, L-BFGS, content from the photo


class ContentLoss(nn.Module):
    """A transparent layer that records 1/2 sum (F - P)^2 against the content image's features."""

    def __init__(self, target: torch.Tensor):
        super().__init__()
        self.target = target.detach()
        self.loss = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.loss = 0.5 * (x - self.target).pow(2).sum()
        return x


def gram(x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    flat = x.reshape(b, c, h * w)  # (B, C, H, W) -> (B, C, M)
    return flat @ flat.transpose(1, 2)


class StyleLoss(nn.Module):
    """A transparent layer that records Gatys's E_l = sum (G - A)^2 / (4 N^2 M^2) against the
    style's Gram matrix."""

    def __init__(self, target_features: torch.Tensor):
        super().__init__()
        self.target = gram(target_features).detach()
        self.loss = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, c, h, w = x.shape
        self.loss = (gram(x) - self.target).pow(2).sum() / (4.0 * c**2 * (h * w) ** 2)
        return x


class Normalisation(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer(
            "mean", torch.tensor(IMAGENET_MEAN).view(-1, 1, 1)
        )  # (3,) -> (3, 1, 1)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(-1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def tutorial_vgg(extractor: VGGFeatures) -> nn.Sequential:
    """torchvision's VGG-19 (weights=None) with the extractor's weights and average pooling."""
    with torch.device(
        "meta"
    ):  # the weights come from the extractor: no need to draw VGG's 140 M random ones
        features = vgg19(weights=None).features[: len(extractor.body)]
    features = features.to_empty(device=extractor.mean.device)
    features.load_state_dict(extractor.body.state_dict())
    for index, layer in enumerate(features):
        if isinstance(layer, nn.MaxPool2d):
            features[index] = nn.AvgPool2d(
                layer.kernel_size, layer.stride, layer.padding, layer.ceil_mode
            )
    return features.requires_grad_(False).eval()


def tutorial_style_model(
    features: nn.Sequential,
    content: torch.Tensor,
    style: torch.Tensor,
    content_layer: str,
    style_layers: tuple[str, ...],
) -> tuple[nn.Sequential, list[ContentLoss], list[StyleLoss]]:
    """The tutorial's network: VGG copied layer by layer, loss layers after chosen ReLUs, cut."""
    model = nn.Sequential(Normalisation().to(content.device))
    content_losses, style_losses = [], []
    block, conv = 1, 0
    for layer in features:
        if isinstance(layer, nn.Conv2d):
            conv += 1
        elif isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
            block, conv = block + 1, 0
        if isinstance(layer, nn.ReLU):
            layer = nn.ReLU(inplace=False)  # the loss layers must see the activation itself
        model.append(layer)
        name = (
            f"conv{block}_{conv}"  # named after the ReLU output, as Gatys et al. and the course do
        )
        if not isinstance(layer, nn.ReLU):
            continue
        if name == content_layer:
            content_losses.append(ContentLoss(model(content)))
            model.append(content_losses[-1])
        if name in style_layers:
            style_losses.append(StyleLoss(model(style)))
            model.append(style_losses[-1])
        if len(content_losses) == 1 and len(style_losses) == len(style_layers):
            break
    return model, content_losses, style_losses


def tutorial_style_loss(
    model: nn.Sequential, content_losses, style_losses, image: torch.Tensor
) -> torch.Tensor:
    model(image)
    content = sum(loss.loss for loss in content_losses)
    style = sum(loss.loss for loss in style_losses) / len(style_losses)  # equal layer weights 1 / L
    return STYLE_ALPHA * content + STYLE_BETA * style


def tutorial_transfer(
    features: nn.Sequential, content: torch.Tensor, style: torch.Tensor, steps: int
) -> int:
    """The tutorial's L-BFGS loop (course optimiser settings); returns the loss evaluations."""
    model, content_losses, style_losses = tutorial_style_model(
        features, content, style, CONTENT_LAYER, STYLE_LAYERS
    )
    image = content.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [image],
        lr=1.0,
        max_iter=1,
        max_eval=20,
        history_size=20,
        tolerance_grad=0.0,
        tolerance_change=0.0,
        line_search_fn="strong_wolfe",
    )
    evaluations = 0

    def closure() -> torch.Tensor:
        nonlocal evaluations
        with torch.no_grad():
            image.clamp_(0, 1)
        optimizer.zero_grad()
        loss = tutorial_style_loss(model, content_losses, style_losses, image)
        loss.backward()
        evaluations += 1
        return loss

    while evaluations < steps:
        optimizer.step(closure)
    with torch.no_grad():
        image.clamp_(0, 1)
    return evaluations


def course_transfer(
    extractor: VGGFeatures, content: torch.Tensor, style: torch.Tensor, steps: int
) -> int:
    result = transfer(
        lambda images, layers: extractor(images),
        content,
        style,
        content_layer=CONTENT_LAYER,
        style_layers=list(STYLE_LAYERS),
        alpha=STYLE_ALPHA,
        beta=STYLE_BETA,
        init="content",
        steps=steps,
        seed=SEED,
        progress=False,
    )
    return result.steps


def timed_run(run: Callable[[int], int], steps: int, device: str) -> tuple[float, int]:
    """(seconds, loss evaluations) of ``run(steps)``; L-BFGS may overshoot ``steps`` a little."""
    synchronize(device)
    began = time.perf_counter()
    evaluations = run(steps)
    synchronize(device)
    return time.perf_counter() - began, evaluations


def measure_gatys(device: str, scale: Scale) -> list[Row]:
    # The paper's layers; the timing leaves out the conv5_2 that notebook 10 also extracts.
    extractor = VGGFeatures(PAPER_LAYERS, weights="random", pooling="avg", seed=SEED).to(device)
    features = tutorial_vgg(extractor)
    rows = []
    for size in scale.gatys_sizes:
        # Square images as in notebook 10's timing table; the style picture at the content's size.
        content = F.interpolate(
            bundled_image("chelsea", size), size=(size, size), mode="bilinear"
        ).clamp(0, 1)
        content = content.to(device)
        style = (
            F.interpolate(bundled_image("coffee", size), size=(size, size), mode="area")
            .clamp(0, 1)
            .to(device)
        )

        def course(steps: int) -> int:
            return course_transfer(extractor, content, style, steps)

        def tutorial(steps: int) -> int:
            return tutorial_transfer(features, content, style, steps)

        course(2)  # warm-up
        tutorial(2)
        # The cost of one more iteration from runs of n and 2n evaluations:
        # (best 2n time - best n time) / n, so that each side's set-up (target features, the
        # course's final evaluation) drops out.
        n = scale.gatys_steps
        best = {(path, steps): math.inf for path in (course, tutorial) for steps in (n, 2 * n)}
        evaluations: dict[tuple[Callable, int], int] = {}
        for round_ in range(scale.repeats):  # alternate, as compare does
            for path in (course, tutorial) if round_ % 2 == 0 else (tutorial, course):
                for steps in (n, 2 * n):
                    seconds, done = timed_run(path, steps, device)
                    if evaluations.setdefault((path, steps), done) != done:
                        raise RuntimeError(
                            "A run made a different number of loss evaluations than its repeat."
                        )
                    best[path, steps] = min(best[path, steps], seconds)
        per_iteration = {
            path: (best[path, 2 * n] - best[path, n])
            / (evaluations[path, 2 * n] - evaluations[path, n])
            for path in (course, tutorial)
        }
        what = (
            f"scikit-image 'chelsea' (content) and 'coffee' (style), {size} x {size} px; "
            f"random-weight VGG-19, L-BFGS; seconds per loss evaluation from runs of {n} and "
            f"{2 * n}, set-up excluded"
        )
        name = f"Gatys style transfer, {size} px"
        rows.append(
            Row(name, what, device, "s/iteration", per_iteration[course], per_iteration[tutorial])
        )
    return rows


MEASURES: dict[str, Callable[[str, Scale], list[Row]]] = {
    "ae": measure_ae,
    "vae": measure_vae,
    "rbm": measure_rbm,
    "dcgan": lambda device, scale: measure_gan(device, scale, wasserstein=False),
    "wgan-gp": lambda device, scale: measure_gan(device, scale, wasserstein=True),
    "cyclegan": measure_cyclegan,
    "stargan": measure_stargan,
    "gatys": measure_gatys,
}


# ---------------------------------------------------------------------------------------------
# Report


def format_value(value: float, unit: str) -> str:
    return f"{value:,.0f} images/s" if unit == "images/s" else f"{value:.3f} s/iteration"


def report(rows: list[Row], scale: Scale, quick: bool) -> str:
    lines = [
        "# Training throughput: the course's training functions against the usual tutorial way",
        "",
        f"Written by `make bench-throughput` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}"
        + (" (`--quick`: tiny sizes, the numbers mean little)." if quick else "."),
        "",
        f"Machine: {machine_description()}; torch threads {torch.get_num_threads()}.",
        "",
        "Ratios within a few percent of 1 are ties: repeated runs on this machine move single "
        "rows by about that much.",
        "",
        "Both paths train the same model from the same initial weights with the same optimiser, "
        "batch size, step maths and number of images; the course's speed switches "
        "(bfloat16 autocast and channels_last on CUDA in the gpu profile) are off, so both paths "
        "compute in float32. Images/s counts the real images trained on "
        "(for GANs: the images the discriminator or critic sees, k = 5 critic steps per "
        "generator step for WGAN-GP and StarGAN; for CycleGAN: images of each "
        f"domain). Each path is warmed up, then timed {scale.repeats} time(s) in alternation with "
        "the other, and the best time counts (`torch.cuda.synchronize()` around every timing on "
        "CUDA). Gatys style transfer gives the seconds one more loss evaluation (one forward and "
        "backward pass) costs, from runs of n and 2n evaluations (set-up excluded on both "
        "sides), and uses VGG-19 with random weights (`weights=None`; there is no internet "
        "here) in both paths: the cost is that of the pretrained network.",
        "",
        "| model | what one measurement trains on | device | course | tutorial way | course / "
        "tutorial |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row.model} | {row.what} | {row.device} | {format_value(row.course, row.unit)} | "
            f"{format_value(row.tutorial, row.unit)} | {row.ratio:.2f} |"
        )
    lines += [
        "",
        "Course / tutorial above 1 means the course path is faster. The course path is the "
        "course's own training function as the notebooks call it, on one in-memory float tensor "
        "moved to the device once; the tutorial way is a torchvision-style `Dataset` of uint8 "
        "images converted per item (PIL, `ToTensor`, `Normalize`), a default "
        "`DataLoader(shuffle=True)` and a hand-written loop with `.to(device)` per batch "
        "(for Gatys, VGG rebuilt as an `nn.Sequential` with loss layers inserted, the whole "
        "truncated network run every iteration).",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes: a run of seconds, for checking that it works",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        choices=MODELS,
        default=list(MODELS),
        metavar="MODEL",
        help=f"rows to measure, any of {', '.join(MODELS)} (default: all)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"where to write the table (default {DEFAULT_OUT})",
    )
    return parser.parse_args(argv)


def run(models: Iterable[str], scale: Scale) -> list[Row]:
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        for name in models:
            began = time.perf_counter()
            for row in MEASURES[name](device, scale):
                rows.append(row)
                print(
                    f"bench-throughput: {row.model} on {device}: course "
                    f"{format_value(row.course, row.unit)}, tutorial "
                    f"{format_value(row.tutorial, row.unit)}, ratio {row.ratio:.2f}",
                    flush=True,
                )
            print(
                f"bench-throughput: {name} on {device} took {time.perf_counter() - began:.0f} s",
                flush=True,
            )
    return rows


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    scale = QUICK_SCALE if args.quick else DEFAULT_SCALE
    rows = run(args.models, scale)
    args.out.write_text(report(rows, scale, args.quick), encoding="utf-8")
    print(f"bench-throughput: results written to {args.out}")


if __name__ == "__main__":
    main()
