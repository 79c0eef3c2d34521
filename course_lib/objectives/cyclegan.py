"""CycleGAN (Zhu et al. 2017): unpaired image-to-image translation with cycle consistency.

Two domains A and B (MNIST digits and MNIST-M digits, photos and paintings) come as two
separate sets of images: no image of A has a known partner in B. Two generators translate
G: A -> B and F: B -> A, and two discriminators D_B and D_A tell real images of their domain
from translated ones. Each GAN alone would only make G(a) *look like* some image of B, with
nothing tying it to a; the cycle-consistency term asks that a round trip give the input back,

    L_cyc(G, F) = E_a[|F(G(a)) - a|_1] + E_b[|G(F(b)) - b|_1],

so G must keep enough of a (the digit's identity) for F to recover it. The generators minimise

    L(G, F) = L_GAN(G, D_B) + L_GAN(F, D_A) + lambda L_cyc(G, F)
              + lambda_idt lambda (E_b[|G(b) - b|_1] + E_a[|F(a) - a|_1]),

with the paper's lambda = 10. The last, *identity* term (lambda_idt = 0.5 in the paper's code,
a fraction of lambda) asks a generator to leave alone an image that is already of its output
domain, which keeps colours from drifting; it needs both domains to have the same channels.

The adversarial terms are least-squares GAN losses (Mao et al. 2017), which the paper uses
instead of the log loss because they trained more stably: with raw patch scores D(.) (no
sigmoid), D minimises 1/2 (E[(D(b) - 1)^2] + E[D(G(a))^2]) and G minimises E[(D(G(a)) - 1)^2].
A generated image is penalised by the squared distance of its score from the "real" target 1,
so it keeps being pulled until it scores like real data; under a sigmoid the loss flattens out
as soon as D is fooled, however far the image is from the real ones. The discriminators are
updated on a *history* of generated images (``ImagePool``, Shrivastava et al. 2017) rather
than only the latest ones, so they do not just chase the generators' most recent change.

``CycleGAN(..., cycle_weight=0)`` is the "GAN alone" ablation: translations then look like B
but need not keep the content of their input. Images are in [-1, 1] (the generators end with
tanh): scale data with 2 x - 1 before training.
"""

from __future__ import annotations

import itertools
from typing import Iterator

import torch
from torch import nn

from course_lib.losses.adversarial import lsgan_discriminator_loss, lsgan_generator_loss
from course_lib.losses.translation import cycle_loss, identity_loss


class ImagePool:
    """A buffer of up to ``capacity`` generated images, fed to the discriminator instead of the
    newest ones.

    ``query(images)`` goes through the batch one image at a time. While the pool holds fewer
    than ``capacity`` images, the image is stored and returned as it is. Once the pool is full,
    with probability 1/2 a random stored image is returned and the new image takes its place;
    otherwise the new image is returned and the pool is unchanged. About half of what the
    discriminator sees is thus from earlier generator steps. The pool keeps detached copies
    and returns detached images (the pool only feeds the discriminator's step); its choices
    come from its own generator seeded by ``seed``. ``capacity=0`` turns it off: ``query``
    returns its input (detached).
    """

    def __init__(self, capacity: int = 50, seed: int = 0):
        if capacity < 0:
            raise ValueError(
                f"ImagePool capacity must be non-negative (0 turns the pool off), got {capacity}."
            )
        self.capacity = capacity
        self._rng = torch.Generator().manual_seed(seed)
        self._images: list[torch.Tensor] = []

    def __len__(self) -> int:
        return len(self._images)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """A batch of the same shape as ``images`` (B, C, H, W), mixing them with stored ones as
        above."""
        images = images.detach()
        if self.capacity == 0:
            return images
        if self._images and images.shape[1:] != self._images[0].shape:
            raise ValueError(
                f"ImagePool holds images of shape {tuple(self._images[0].shape)}, got a batch of "
                f"{tuple(images.shape[1:])}: use one pool per domain."
            )
        if self._images and self._images[0].device != images.device:  # restored onto the CPU
            self._images = [stored.to(images.device) for stored in self._images]
        returned = []
        for image in images:
            if len(self._images) < self.capacity:
                self._images.append(image.clone())
                returned.append(image)
            elif torch.rand((), generator=self._rng) < 0.5:
                slot = int(torch.randint(self.capacity, (), generator=self._rng))
                returned.append(self._images[slot])
                self._images[slot] = image.clone()
            else:
                returned.append(image)
        return torch.stack(returned)

    def state_dict(self) -> dict[str, object]:
        """The stored images and the generator's state, for a checkpoint."""
        return {"images": list(self._images), "rng": self._rng.get_state()}

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore what ``state_dict`` saved; the images go back to the device they came from
        at the next ``query`` (a checkpoint is read onto the CPU)."""
        self._images = list(state["images"])
        self._rng.set_state(state["rng"])


def _conv_channels(generator: nn.Module) -> tuple[int, int] | None:
    """(in_channels of the first convolution, out_channels of the last) in registration order,
    or None."""
    convs = [m for m in generator.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    return (convs[0].in_channels, convs[-1].out_channels) if convs else None


class CycleGAN(nn.Module):
    """The CycleGAN objective: generators ``g_ab`` (A -> B) and ``g_ba`` (B -> A), discriminators
    ``d_a`` (real A versus g_ba's images) and ``d_b`` (real B versus g_ab's).

    ``cycle_weight`` is lambda; ``identity_weight`` is lambda_idt, a fraction of lambda as in the
    paper's code (the identity term is weighted by identity_weight * cycle_weight, so
    ``cycle_weight=0`` drops it too). The channel counts of the domains are read from the
    generators: the first convolution of ``g_ab`` (in registration order, as in
    ``models.blocks.resnet_translator``) gives A's, its last gives B's, and ``g_ba`` must agree.
    Pass ``channels_a`` and ``channels_b`` for generators without convolutions or whose first
    registered convolution is not the one that reads the input. A discriminator with an
    ``in_channels`` attribute (``PatchDiscriminator``) must match its domain too. The identity
    term feeds B images to g_ab, so ``identity_weight > 0`` needs the same channels in A and B.
    """

    def __init__(
        self,
        g_ab: nn.Module,
        g_ba: nn.Module,
        d_a: nn.Module,
        d_b: nn.Module,
        cycle_weight: float = 10.0,
        identity_weight: float = 0.5,
        channels_a: int | None = None,
        channels_b: int | None = None,
    ):
        super().__init__()
        if cycle_weight < 0 or identity_weight < 0:
            raise ValueError(
                "cycle_weight and identity_weight must be non-negative, got "
                f"{cycle_weight} and {identity_weight}."
            )
        ab, ba = _conv_channels(g_ab), _conv_channels(g_ba)
        if ab is not None and ba is not None and (ab[0], ab[1]) != (ba[1], ba[0]):
            raise ValueError(
                f"g_ab maps {ab[0]} -> {ab[1]} channels but g_ba maps {ba[0]} -> {ba[1]}: "
                f"g_ba must undo g_ab's mapping ({ab[1]} -> {ab[0]})."
            )
        inferred_a = ab[0] if ab is not None else ba[1] if ba is not None else None
        inferred_b = ab[1] if ab is not None else ba[0] if ba is not None else None
        for name, given, inferred in (
            ("channels_a", channels_a, inferred_a),
            ("channels_b", channels_b, inferred_b),
        ):
            if given is not None and inferred is not None and given != inferred:
                raise ValueError(
                    f"{name}={given}, but the generators' convolutions say {inferred}."
                )
        self.channels_a = channels_a if channels_a is not None else inferred_a
        self.channels_b = channels_b if channels_b is not None else inferred_b
        for name, discriminator, channels in (
            ("d_a", d_a, self.channels_a),
            ("d_b", d_b, self.channels_b),
        ):
            expected = getattr(discriminator, "in_channels", None)
            if channels is not None and expected is not None and expected != channels:
                raise ValueError(
                    f"{name} reads {expected} channels but its domain has {channels}: CycleGAN's "
                    "discriminators judge single images of their own domain, so build them with "
                    "in_channels = that domain's channels."
                )
        if identity_weight > 0:
            if self.channels_a is None or self.channels_b is None:
                raise ValueError(
                    "The identity term needs the domains' channel counts, which could not be read "
                    "from the generators: pass channels_a and channels_b, or set identity_weight=0."
                )
            if self.channels_a != self.channels_b:
                raise ValueError(
                    "The identity term feeds B images to the A -> B generator, but A has "
                    f"{self.channels_a} channels and B has {self.channels_b}: set "
                    "identity_weight=0 for domains with different channels."
                )
        self.g_ab, self.g_ba, self.d_a, self.d_b = g_ab, g_ba, d_a, d_b
        self.cycle_weight = cycle_weight
        self.identity_weight = identity_weight

    def generator_parameters(self) -> Iterator[nn.Parameter]:
        """Both generators' parameters: one optimiser updates them together."""
        return itertools.chain(self.g_ab.parameters(), self.g_ba.parameters())

    def discriminator_parameters(self) -> Iterator[nn.Parameter]:
        """Both discriminators' parameters: one optimiser updates them together."""
        return itertools.chain(self.d_a.parameters(), self.d_b.parameters())

    def discriminator_loss(
        self, real_a: torch.Tensor, real_b: torch.Tensor, fake_a: torch.Tensor, fake_b: torch.Tensor
    ) -> torch.Tensor:
        """The LSGAN losses of D_A (real_a versus fake_a) and D_B (real_b versus fake_b), summed.

        ``fake_a`` and ``fake_b`` are translated images (from an ``ImagePool``); they are detached,
        so this loss only reaches the discriminators. Their parameters are disjoint, so one
        optimiser on the sum takes the same step as two on each loss.
        """
        loss_a = lsgan_discriminator_loss(self.d_a(real_a), self.d_a(fake_a.detach()))
        loss_b = lsgan_discriminator_loss(self.d_b(real_b), self.d_b(fake_b.detach()))
        return loss_a + loss_b

    def generator_losses(
        self, real_a: torch.Tensor, real_b: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The generators' terms and the translations the discriminator step needs.

        ``adversarial_ab`` = mean (D_B(G(a)) - 1)^2, ``adversarial_ba`` = mean (D_A(F(b)) - 1)^2,
        ``cycle_a`` = mean |F(G(a)) - a|, ``cycle_b`` = mean |G(F(b)) - b|, ``identity`` =
        mean |G(b) - b| + mean |F(a) - a|, and ``total`` = adversarial_ab + adversarial_ba +
        lambda (cycle_a + cycle_b) + lambda_idt lambda identity, the loss both generators minimise.
        With ``cycle_weight=0`` the cycle terms are still computed, without gradients, to watch
        what the ablation loses; ``identity`` is 0 when ``identity_weight`` is 0. ``fake_b`` = G(a)
        and ``fake_a`` = F(b) are returned detached.
        """
        fake_b, fake_a = self.g_ab(real_a), self.g_ba(real_b)
        adversarial_ab = lsgan_generator_loss(self.d_b(fake_b))
        adversarial_ba = lsgan_generator_loss(self.d_a(fake_a))
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.cycle_weight > 0):
            cycle_a = cycle_loss(real_a, self.g_ba(fake_b))
            cycle_b = cycle_loss(real_b, self.g_ab(fake_a))
        identity_weight = self.identity_weight * self.cycle_weight
        if self.identity_weight > 0:
            with torch.set_grad_enabled(torch.is_grad_enabled() and identity_weight > 0):
                identity = identity_loss(real_b, self.g_ab(real_b)) + identity_loss(
                    real_a, self.g_ba(real_a)
                )
        else:
            identity = torch.zeros((), device=fake_b.device)
        total = adversarial_ab + adversarial_ba
        if self.cycle_weight > 0:
            total = total + self.cycle_weight * (cycle_a + cycle_b)
        if identity_weight > 0:
            total = total + identity_weight * identity
        return {
            "adversarial_ab": adversarial_ab,
            "adversarial_ba": adversarial_ba,
            "cycle_a": cycle_a,
            "cycle_b": cycle_b,
            "identity": identity,
            "total": total,
            "fake_a": fake_a.detach(),
            "fake_b": fake_b.detach(),
        }

    def translate_ab(self, x: torch.Tensor) -> torch.Tensor:
        """G(x): images of A translated into B."""
        return self.g_ab(x)

    def translate_ba(self, y: torch.Tensor) -> torch.Tensor:
        """F(y): images of B translated into A."""
        return self.g_ba(y)
