"""CycleGAN: LSGAN and L1 terms, the image pool, the objective's checks and terms, unpaired
training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib.losses.adversarial import lsgan_discriminator_loss, lsgan_generator_loss
from course_lib.losses.translation import cycle_loss, identity_loss
from course_lib.models.blocks import resnet_translator
from course_lib.models.pix2pix import PatchDiscriminator
from course_lib.objectives.cyclegan import CycleGAN, ImagePool
from course_lib.training.steps import NonFiniteLossError
from course_lib.training.translation import train_cyclegan

pytestmark = pytest.mark.usefixtures("quiet_progress")


class Shift(nn.Module):
    """x + shift: a generator whose round trips are easy to compute by hand."""

    def __init__(self, shift: float):
        super().__init__()
        self.shift = shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.shift


def generator(c_in: int, c_out: int) -> nn.Module:
    return resnet_translator(c_in, c_out, width=4, n_down=1, n_blocks=1)


def discriminator(channels: int) -> PatchDiscriminator:
    return PatchDiscriminator(
        channels, width=4, n_layers=1, norm="instance"
    )  # 8 x 8 images -> 2 x 2 scores


def mnist_like(
    channels_a: int = 1, channels_b: int = 3, n_a: int = 16, n_b: int = 12
) -> tuple[torch.Tensor, ...]:
    """Unpaired 8 x 8 images in [-1, 1]: bright squares on black in A, coloured squares on noise
    in B."""
    g = torch.Generator().manual_seed(1)
    a = -torch.ones(n_a, channels_a, 8, 8)
    b = torch.rand(n_b, channels_b, 8, 8, generator=g) * 0.4 - 1
    for i in range(n_a):
        r, c = (int(v) for v in torch.randint(0, 5, (2,), generator=g))
        a[i, :, r : r + 3, c : c + 3] = 1
    for i in range(n_b):
        r, c = (int(v) for v in torch.randint(0, 5, (2,), generator=g))
        b[i, :, r : r + 3, c : c + 3] = torch.rand(channels_b, 1, 1, generator=g) * 2 - 1
    return a, b


# --- losses -----------------------------------------------------------------------------------


def test_lsgan_losses_match_hand_computed_values():
    real = torch.tensor([1.0, 0.0, 2.0, 1.0]).view(1, 1, 2, 2)  # (D - 1)^2: 0, 1, 1, 0 -> mean 0.5
    fake = torch.tensor([0.0, 1.0, -1.0, 0.5, 0.0, 0.0]).view(
        2, 1, 1, 3
    )  # D^2: 0, 1, 1, 0.25, 0, 0 -> 0.375
    assert lsgan_discriminator_loss(real, fake).item() == pytest.approx(0.5 * (0.5 + 0.375))
    # (D - 1)^2 of the fakes: 1, 0, 4, 0.25, 1, 1 -> 7.25 / 6
    assert lsgan_generator_loss(fake).item() == pytest.approx(7.25 / 6)
    perfect = lsgan_discriminator_loss(torch.ones(3, 1, 4, 4), torch.zeros(3, 1, 4, 4))
    assert perfect.item() == 0.0 and lsgan_generator_loss(torch.ones(5)).item() == 0.0
    assert (
        lsgan_discriminator_loss(
            torch.full((2, 1, 3, 3), 0.5), torch.full((2, 1, 3, 3), 0.5)
        ).item()
        == 0.25
    )


def test_l1_terms_and_their_shape_check():
    x = torch.zeros(2, 1, 4, 4)
    assert cycle_loss(x, x + 0.25).item() == pytest.approx(0.25)
    assert identity_loss(x, x - 0.5).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"cycle_loss.*\(2, 1, 4, 4\) and \(2, 3, 4, 4\)"):
        cycle_loss(x, torch.zeros(2, 3, 4, 4))  # F.l1_loss would broadcast with only a warning


# --- image pool --------------------------------------------------------------------------------


def numbered(ids: list[int]) -> torch.Tensor:
    """A batch whose image i is filled with the value ids[i], so images can be told apart."""
    return torch.tensor(ids, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 2, 3, 3).clone()


def ids_of(images: torch.Tensor) -> list[int]:
    assert (images == images[:, :1, :1, :1]).all()  # every image is still one constant
    return [int(v) for v in images[:, 0, 0, 0]]


def test_image_pool_fills_then_swaps_with_probability_one_half():
    pool = ImagePool(capacity=5, seed=3)
    first = numbered([0, 1, 2])
    assert torch.equal(pool.query(first), first) and len(pool) == 3
    stored, swaps, kept = {0, 1, 2}, 0, 0
    for start in range(3, 403, 4):
        batch = list(range(start, start + 4))
        returned = ids_of(pool.query(numbered(batch)))
        assert len(returned) == 4
        for new, out in zip(batch, returned):
            if len(stored) < 5:  # still filling: stored and returned as it is
                assert out == new
                stored.add(new)
            elif out == new:  # returned itself, pool unchanged
                kept += 1
            else:  # swapped: a stored image comes out, the new one takes its place
                assert out in stored
                stored.remove(out)
                stored.add(new)
                swaps += 1
        assert len(pool) == 5
    assert stored == set(ids_of(torch.stack(pool._images)))
    assert (
        150 < swaps < 250 and swaps + kept == 400 - 2
    )  # 2 of the 400 new images went to fill the pool


def test_image_pool_is_seeded_detached_and_can_be_turned_off():
    def run(seed: int) -> list[int]:
        pool = ImagePool(capacity=4, seed=seed)
        return [
            i
            for start in range(0, 60, 6)
            for i in ids_of(pool.query(numbered(list(range(start, start + 6)))))
        ]

    assert run(0) == run(0) and run(0) != run(1)

    pool = ImagePool(capacity=2)
    images = torch.zeros(2, 1, 3, 3)
    pool.query(images)
    images.fill_(7.0)
    assert pool._images[0].abs().max() == 0  # a copy, not a view of the caller's tensor
    out = ImagePool(capacity=2).query(torch.zeros(2, 1, 3, 3, requires_grad=True) * 2)
    assert not out.requires_grad
    with pytest.raises(ValueError, match="one pool per domain"):
        pool.query(torch.zeros(2, 3, 3, 3))

    off = ImagePool(capacity=0)
    batch = torch.randn(3, 1, 4, 4)
    assert torch.equal(off.query(batch), batch) and len(off) == 0
    with pytest.raises(ValueError, match="non-negative"):
        ImagePool(capacity=-1)


# --- the objective -----------------------------------------------------------------------------


def test_cycle_term_is_zero_for_inverse_generators_and_positive_otherwise():
    a, b = mnist_like(1, 1, 4, 4)
    objective = CycleGAN(
        nn.Identity(), nn.Identity(), discriminator(1), discriminator(1), channels_a=1, channels_b=1
    )
    losses = objective.generator_losses(a, b)
    assert losses["cycle_a"].item() == losses["cycle_b"].item() == losses["identity"].item() == 0.0
    # A shift and its inverse also make an exact cycle, while each moves its images by 1.
    inverse = CycleGAN(
        Shift(1.0), Shift(-1.0), discriminator(1), discriminator(1), channels_a=1, channels_b=1
    )
    losses = inverse.generator_losses(a, b)
    assert losses["cycle_a"].item() == pytest.approx(0.0, abs=1e-6)  # (b - 1) + 1 may round
    assert losses["cycle_b"].item() == pytest.approx(0.0, abs=1e-6)
    assert losses["identity"].item() == pytest.approx(2.0)  # |G(b) - b| + |F(a) - a| = 1 + 1
    # Two forward shifts: F(G(a)) = a + 2.
    forward = CycleGAN(
        Shift(1.0), Shift(1.0), discriminator(1), discriminator(1), channels_a=1, channels_b=1
    )
    assert forward.generator_losses(a, b)["cycle_a"].item() == pytest.approx(2.0)
    torch.manual_seed(0)
    learned = CycleGAN(generator(1, 1), generator(1, 1), discriminator(1), discriminator(1))
    losses = learned.generator_losses(a, b)
    assert losses["cycle_a"] > 0 and losses["cycle_b"] > 0


def test_generator_losses_follow_the_formula():
    torch.manual_seed(0)
    a, b = mnist_like(2, 2, 4, 4)
    d_a, d_b = discriminator(2), discriminator(2)
    objective = CycleGAN(
        Shift(0.5),
        Shift(-0.25),
        d_a,
        d_b,
        cycle_weight=3.0,
        identity_weight=0.2,
        channels_a=2,
        channels_b=2,
    )
    losses = objective.generator_losses(a, b)
    assert torch.allclose(
        losses["adversarial_ab"], (d_b(a + 0.5) - 1).square().mean()
    )  # D_B judges G(a)
    assert torch.allclose(
        losses["adversarial_ba"], (d_a(b - 0.25) - 1).square().mean()
    )  # D_A judges F(b)
    assert losses["cycle_a"].item() == losses["cycle_b"].item() == pytest.approx(0.25)
    assert losses["identity"].item() == pytest.approx(0.75)
    expected = losses["adversarial_ab"] + losses["adversarial_ba"] + 3.0 * 0.5 + 0.2 * 3.0 * 0.75
    assert torch.allclose(losses["total"], expected)
    assert torch.equal(losses["fake_b"], a + 0.5) and torch.equal(losses["fake_a"], b - 0.25)

    fake_a, fake_b = torch.zeros_like(a), torch.zeros_like(b)
    d_loss = objective.discriminator_loss(a, b, fake_a, fake_b)
    by_hand = lsgan_discriminator_loss(d_a(a), d_a(fake_a)) + lsgan_discriminator_loss(
        d_b(b), d_b(fake_b)
    )
    assert torch.allclose(d_loss, by_hand)
    assert objective.translate_ab(a).equal(a + 0.5) and objective.translate_ba(b).equal(b - 0.25)


def test_without_cycle_weight_the_cycle_term_is_only_watched():
    torch.manual_seed(0)
    a, b = mnist_like(1, 3, 4, 4)
    nets = generator(1, 3), generator(3, 1), discriminator(1), discriminator(3)
    objective = CycleGAN(*nets, cycle_weight=0.0, identity_weight=0.0)
    losses = objective.generator_losses(a, b)
    assert losses["cycle_a"] > 0 and losses["cycle_b"] > 0  # still reported...
    assert not losses["cycle_a"].requires_grad  # ...but outside the graph
    assert torch.equal(losses["total"], losses["adversarial_ab"] + losses["adversarial_ba"])
    assert losses["identity"].item() == 0.0


def test_domain_channels_are_checked_at_construction():
    # MNIST (1 channel) <-> MNIST-M (3 channels): no identity term.
    with pytest.raises(ValueError, match=r"A has 1 channels and B has 3.*identity_weight=0"):
        CycleGAN(generator(1, 3), generator(3, 1), discriminator(1), discriminator(3))
    objective = CycleGAN(
        generator(1, 3), generator(3, 1), discriminator(1), discriminator(3), identity_weight=0
    )
    assert (objective.channels_a, objective.channels_b) == (1, 3)
    with pytest.raises(ValueError, match=r"g_ba must undo g_ab's mapping \(3 -> 1\)"):
        CycleGAN(
            generator(1, 3), generator(1, 3), discriminator(1), discriminator(3), identity_weight=0
        )
    with pytest.raises(ValueError, match="d_b reads 1 channels but its domain has 3"):
        CycleGAN(
            generator(1, 3), generator(3, 1), discriminator(1), discriminator(1), identity_weight=0
        )
    with pytest.raises(ValueError, match="channels_b=2, but the generators' convolutions say 3"):
        CycleGAN(
            generator(1, 3),
            generator(3, 1),
            discriminator(1),
            discriminator(3),
            10,
            0,
            channels_b=2,
        )
    with pytest.raises(ValueError, match="pass channels_a and channels_b"):
        CycleGAN(nn.Identity(), nn.Identity(), discriminator(1), discriminator(1))
    with pytest.raises(ValueError, match="non-negative"):
        CycleGAN(
            generator(1, 1), generator(1, 1), discriminator(1), discriminator(1), cycle_weight=-1
        )


# --- training ----------------------------------------------------------------------------------


def make_objective(
    cls: type[CycleGAN] = CycleGAN, dropout: bool = False
) -> tuple[CycleGAN, dict[str, torch.optim.Optimizer]]:
    torch.manual_seed(0)
    g_ab = (
        nn.Sequential(generator(1, 3), nn.Dropout(0.5)) if dropout else generator(1, 3)
    )  # dropout: global stream
    objective = cls(g_ab, generator(3, 1), discriminator(1), discriminator(3), identity_weight=0)
    optimizers = {
        "g_optimizer": torch.optim.Adam(objective.generator_parameters(), 2e-3, betas=(0.5, 0.999)),
        "d_optimizer": torch.optim.Adam(
            objective.discriminator_parameters(), 2e-3, betas=(0.5, 0.999)
        ),
    }
    return objective, optimizers


def test_training_is_reproducible_and_restores_the_global_stream():
    def run(seed: int, outside: int = 123) -> list[float]:
        objective, optimizers = make_objective(dropout=True)
        torch.manual_seed(outside)
        history = train_cyclegan(
            objective, *mnist_like(), epochs=2, batch_size=4, seed=seed, pool_size=3, **optimizers
        )
        after = torch.rand(3)
        torch.manual_seed(outside)
        assert torch.equal(after, torch.rand(3))  # the global stream is as training found it
        assert history.steps_per_epoch == 3  # min(16, 12) // 4
        assert len(history.d_loss) == len(history.g_loss) == len(history.terms["cycle_a"]) == 6
        assert len(history.epoch_d_loss) == len(history.epoch_g_loss) == 2
        assert history.epoch_means("g_loss") == history.epoch_g_loss and history.seconds > 0
        return history.d_loss + history.g_loss + history.terms["cycle_b"]

    assert run(5) == run(
        5, outside=7
    )  # the dropout masks follow from seed, not from the caller's stream
    assert run(5) != run(6)


def test_short_training_lowers_the_generator_loss_and_updates_all_four_networks():
    objective, optimizers = make_objective()
    before = {
        name: [p.detach().clone() for p in net.parameters()]
        for name, net in objective.named_children()
    }
    calls = []

    def metrics(model: CycleGAN) -> dict[str, float]:
        calls.append((model.training, torch.is_grad_enabled()))
        a, _ = mnist_like()
        return {"cycle": cycle_loss(a, model.translate_ba(model.translate_ab(a))).item()}

    history = train_cyclegan(
        objective, *mnist_like(), epochs=5, batch_size=4, epoch_metrics=metrics, **optimizers
    )
    assert sum(history.g_loss[-3:]) / 3 < 0.6 * sum(history.g_loss[:3]) / 3  # about 0.4 in practice
    assert (
        history.metrics["cycle"][-1] < history.metrics["cycle"][0] and calls == [(False, False)] * 5
    )
    for name, net in objective.named_children():
        assert any(not torch.equal(p, q) for p, q in zip(net.parameters(), before[name])), name
    assert objective.training  # back in train mode after the measurements


def test_each_step_draws_unpaired_minibatches_from_both_domains():
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    class Recording(CycleGAN):
        def generator_losses(self, real_a, real_b):
            seen.append((real_a.clone(), real_b.clone()))
            return super().generator_losses(real_a, real_b)

    objective, optimizers = make_objective(Recording)
    # Image i of a domain is the constant i, so each row drawn names its index.
    a = torch.arange(16.0).view(16, 1, 1, 1).expand(16, 1, 8, 8).clone() / 16
    b = torch.arange(12.0).view(12, 1, 1, 1).expand(12, 3, 8, 8).clone() / 12
    train_cyclegan(objective, a, b, epochs=2, batch_size=4, seed=1, **optimizers)
    assert len(seen) == 6
    for epoch in (seen[:3], seen[3:]):
        index_a = [round(float(x[0, 0, 0]) * 16) for batch, _ in epoch for x in batch]
        index_b = [round(float(y[0, 0, 0]) * 12) for _, batch in epoch for y in batch]
        assert (
            len(set(index_a)) == 12 and len(set(index_b)) == 12
        )  # without replacement within an epoch
        assert set(index_b) == set(range(12))  # the smaller domain is used whole
    assert not torch.equal(seen[0][0], seen[3][0])  # a new order each epoch


def test_each_step_updates_the_generators_then_the_discriminators():
    calls: list[str] = []

    class Recording(CycleGAN):
        def generator_losses(self, real_a, real_b):
            calls.append("g")
            return super().generator_losses(real_a, real_b)

        def discriminator_loss(self, real_a, real_b, fake_a, fake_b):
            calls.append("d")
            return super().discriminator_loss(real_a, real_b, fake_a, fake_b)

    objective, optimizers = make_objective(Recording)
    for player, optimizer in (("D", optimizers["d_optimizer"]), ("G", optimizers["g_optimizer"])):
        optimizer.register_step_post_hook(lambda *_, player=player: calls.append(f"{player} step"))
    history = train_cyclegan(objective, *mnist_like(), epochs=1, batch_size=4, **optimizers)
    assert calls == ["g", "G step", "d", "D step"] * 3  # min(16, 12) // 4 steps
    assert set(history.terms) == {
        "adversarial_ab",
        "adversarial_ba",
        "cycle_a",
        "cycle_b",
        "identity",
    }


def test_training_errors_are_clear():
    objective, optimizers = make_objective()
    a, b = mnist_like()
    with pytest.raises(ValueError, match="smaller domain has 12 images.*lower batch_size"):
        train_cyclegan(objective, a, b, epochs=1, batch_size=13, **optimizers)
    with pytest.raises(ValueError, match=r"domain_b must be a tensor of images \(N, C, H, W\)"):
        train_cyclegan(objective, a, b[:, 0], epochs=1, batch_size=4, **optimizers)
    with torch.no_grad():
        objective.g_ab[1].weight.fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match="Generator loss"):
        train_cyclegan(objective, a, b, epochs=1, batch_size=4, **optimizers)
