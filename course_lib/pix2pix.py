"""pix2pix (Isola et al. 2017): paired image-to-image translation with a conditional GAN and an L1 term.

Given pairs (x, y) of a condition x (an edge map) and its target y (the face), the generator
G(x) is trained on

    L(G) = w_adv * L_adv(G) + lambda * E[|y - G(x)|_1],   L_adv(G) = -E[log D(x, G(x))]  (non-saturating),

and the patch discriminator D on -E[log D(x, y)] - E[log(1 - D(x, G(x)))], every log averaged
over the patches of D's logit map. D sees x stacked with the image on channels, so it asks
"is this a real face *for this drawing*?". The L1 term alone regresses to the conditional mean
(blurry where the target is uncertain); the adversarial term alone gives sharp but unfaithful
images; the paper's lambda = 100 combines the two. ``Pix2Pix(..., adversarial_weight=0)`` is the
"L1 only" ablation (D is then not trained) and ``l1_weight=0`` the "GAN only" one.
``laplacian_variance`` measures the sharpness the ablation is about.

Images are in [-1, 1] (the U-Net ends with tanh): scale targets with 2 y - 1 before training.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.gan_losses import discriminator_loss, generator_loss_non_saturating
from course_lib.batches import ResidentData
from course_lib.distributed import MethodCalls, Shard, mean_across, wrap
from course_lib.gan_training import _checked, _frozen, _update, seeded_run
from course_lib.training import _measure, progress


class Pix2Pix(nn.Module):
    """The pix2pix objective: a generator G(x) and a patch discriminator D([x, image])."""

    def __init__(
        self, generator: nn.Module, discriminator: nn.Module, l1_weight: float = 100.0, adversarial_weight: float = 1.0
    ):
        super().__init__()
        if l1_weight < 0 or adversarial_weight < 0 or l1_weight + adversarial_weight == 0:
            raise ValueError(
                "l1_weight and adversarial_weight must be non-negative and not both 0, got "
                f"{l1_weight} and {adversarial_weight}."
            )
        self.generator = generator
        self.discriminator = discriminator
        self.l1_weight = l1_weight
        self.adversarial_weight = adversarial_weight

    @property
    def uses_discriminator(self) -> bool:
        """False for the L1-only ablation: D's loss would not reach G, so D is not trained at all."""
        return self.adversarial_weight > 0

    def discriminator_loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """-mean log D(x, y) - mean log(1 - D(x, G(x))), averaged over the patch logits."""
        with torch.no_grad():  # the discriminator step updates D only
            fake = self.generator(inputs)
        real_logits = self.discriminator(torch.cat([inputs, targets], dim=1))  # (B, 1, h, w)
        fake_logits = self.discriminator(torch.cat([inputs, fake], dim=1))
        return discriminator_loss(real_logits, fake_logits)

    def generator_losses(self, inputs: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """The generator's terms: ``adversarial`` (-mean log D(x, G(x))), ``l1`` (mean |y - G(x)|) and their
        weighted sum ``total`` (the loss G minimises). ``adversarial`` is 0 in the L1-only ablation."""
        fake = self.generator(inputs)
        l1 = F.l1_loss(fake, targets)
        if self.uses_discriminator:
            adversarial = generator_loss_non_saturating(self.discriminator(torch.cat([inputs, fake], dim=1)))
        else:
            adversarial = torch.zeros((), device=fake.device)
        total = self.adversarial_weight * adversarial + self.l1_weight * l1
        return {"adversarial": adversarial, "l1": l1, "total": total}

    def translate(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.generator(inputs)


@dataclass
class Pix2PixHistory:
    """What ``train_pix2pix`` recorded: per step the discriminator loss (empty for L1 only), the
    generator's adversarial term and L1 error, and their per-epoch means; ``metrics`` the
    per-epoch measurements; ``seconds`` the training time without them."""

    steps_per_epoch: int
    d_loss: list[float] = field(default_factory=list)
    g_adversarial: list[float] = field(default_factory=list)
    l1: list[float] = field(default_factory=list)
    epoch_d_loss: list[float] = field(default_factory=list)
    epoch_l1: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0


def train_pix2pix(
    objective: Pix2Pix,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    g_optimizer: torch.optim.Optimizer,
    d_optimizer: torch.optim.Optimizer | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    epoch_metrics: Callable[[Pix2Pix], dict[str, float]] | None = None,
    desc: str = "pix2pix",
    shard: Shard | None = None,
) -> Pix2PixHistory:
    """Alternate one D step and one G step per minibatch of pairs, as in the paper, and return the history.

    ``inputs`` (N, C_in, S, S) and ``targets`` (N, C_out, S, S) are indexed together, in a new
    random order each epoch (full minibatches only). ``d_optimizer`` is needed unless the
    objective is L1 only. The data order and torch's global stream (the decoder's dropout) follow
    from ``seed``; the global stream is restored afterwards. A NaN or infinite loss raises
    ``NonFiniteLossError`` before its step is applied. Under torchrun (``shard``) each process
    trains on its part of every minibatch, as in ``gan_training.train_gan``.
    """
    shard = shard or Shard()
    shard.check_divides(batch_size)
    pairs = ResidentData((inputs, targets), device, shard)
    if objective.uses_discriminator and d_optimizer is None:
        raise ValueError("This objective trains a discriminator: pass d_optimizer (or set adversarial_weight=0).")
    steps_per_epoch = len(pairs) // batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{len(pairs)} pairs do not fill one minibatch of {batch_size}; lower batch_size.")
    history = Pix2PixHistory(steps_per_epoch)
    objective.to(device).train()
    steps = wrap(MethodCalls(objective), shard, device, find_unused=True)
    with seeded_run(seed, device, rank=shard.rank) as (data_rng,):
        for epoch in progress(range(epochs), shard, desc=desc, unit="epoch"):
            began = time.perf_counter()
            for step, index in enumerate(pairs.full_batches(data_rng, batch_size)):  # (batch_size,) index rows
                x, y = pairs.rows(index)
                d_value = 0.0
                if objective.uses_discriminator:
                    loss = steps("discriminator_loss", x, y)
                    d_value = _checked(loss, "discriminator", epoch, step)
                    _update(d_optimizer, loss)
                with _frozen(objective.discriminator.parameters()):  # G's step needs no gradients for D
                    losses = steps("generator_losses", x, y)
                    _checked(losses["total"], "generator", epoch, step)
                    _update(g_optimizer, losses["total"])
                d_value, adversarial, l1 = mean_across([d_value, losses["adversarial"].item(), losses["l1"].item()], shard)
                if objective.uses_discriminator:
                    history.d_loss.append(d_value)
                history.g_adversarial.append(adversarial)
                history.l1.append(l1)
            history.seconds += time.perf_counter() - began
            history.epoch_l1.append(sum(history.l1[-steps_per_epoch:]) / steps_per_epoch)
            if history.d_loss:
                history.epoch_d_loss.append(sum(history.d_loss[-steps_per_epoch:]) / steps_per_epoch)
            if epoch_metrics is not None and shard.is_main:
                for name, value in _measure(objective, epoch_metrics).items():
                    history.metrics.setdefault(name, []).append(value)
    return history


def laplacian_variance(images: torch.Tensor) -> torch.Tensor:
    """Sharpness per image (N,): the variance of the Laplacian of the grey-level image.

    With grey levels g (the mean of the channels), the discrete Laplacian
    (Lg)[i, j] = g[i-1, j] + g[i+1, j] + g[i, j-1] + g[i, j+1] - 4 g[i, j] responds to edges and
    fine texture and vanishes on smooth ramps; blurring spreads an edge over more pixels and
    shrinks the response, so the variance of Lg over the (S - 2)^2 interior pixels falls. Compare
    it only between images of the same size and value range (for pix2pix, against the targets'
    own value: L1-only outputs fall below it, GAN outputs come closer).
    """
    if images.dim() != 4 or min(images.shape[-2:]) < 3:
        raise ValueError(f"Expected images of shape (N, C, H, W) with H, W >= 3, got {tuple(images.shape)}.")
    grey = images.float().mean(dim=1, keepdim=True)  # (N, 1, H, W)
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], device=images.device)
    response = F.conv2d(grey, kernel.view(1, 1, 3, 3))  # (N, 1, H - 2, W - 2)
    return response.flatten(1).var(dim=1)
