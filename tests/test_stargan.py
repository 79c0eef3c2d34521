"""StarGAN: the two label sets and the mask vector, the networks, the losses against their
formulas, training."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.data.face_conditions import (
    CONDITION_SIZE,
    EXPRESSION,
    GLASSES,
    GROUPS,
    HAIR_COLOUR,
    MASK,
    N_LABELS,
    check_conditions,
)
from course_lib.data.face_domains import (
    condition_attributes,
    dataset_attributes,
    random_target_conditions,
    target_condition,
    two_label_sets,
)
from course_lib.data.faces import ATTRIBUTES, make_faces
from course_lib.losses.translation import domain_classification_loss, reconstruction_loss
from course_lib.models.stargan import StarGANDiscriminator, StarGANGenerator
from course_lib.objectives.stargan import StarGAN
from course_lib.training.translation import train_stargan

pytestmark = pytest.mark.usefixtures("quiet_progress")

SIZE = 16


# ---------------------------------------------------------------------------------------------
# Layout and data


def test_layout_groups_tile_the_labels_and_match_the_attributes():
    assert [g.columns for g in GROUPS] == [HAIR_COLOUR, GLASSES, EXPRESSION]
    assert (
        HAIR_COLOUR.start == 0
        and HAIR_COLOUR.stop == GLASSES.start
        and GLASSES.stop == EXPRESSION.start
    )
    assert EXPRESSION.stop == N_LABELS == MASK.start and MASK.stop == CONDITION_SIZE == 13
    assert HAIR_COLOUR.stop - HAIR_COLOUR.start == len(ATTRIBUTES["hair_colour"]) == 5
    assert EXPRESSION.stop - EXPRESSION.start == len(ATTRIBUTES["expression"]) == 5
    assert [g.binary for g in GROUPS] == [False, True, False]
    assert dataset_attributes(0) == ("hair_colour", "glasses") and dataset_attributes(1) == (
        "expression",
    )


def test_two_label_sets_is_deterministic_and_splits_the_faces_in_half():
    a, b, other = two_label_sets(24, seed=3), two_label_sets(24, seed=3), two_label_sets(24, seed=4)
    assert (
        a.images.shape == (24, 3, 32, 32)
        and a.condition.shape == (24, 13)
        and a.dataset.shape == (24,)
    )
    assert torch.equal(a.images, b.images) and torch.equal(a.condition, b.condition)
    assert torch.equal(a.dataset, b.dataset)
    assert not torch.equal(a.dataset, other.dataset) and not torch.equal(a.images, other.images)
    assert 0 <= a.images.min() and a.images.max() <= 1
    assert (
        set(a.dataset.tolist()) == {0, 1} and int((a.dataset == 0).sum()) == 12
    )  # each face in exactly one
    faces = make_faces(24, 32, 3)  # the same faces, with all their true attributes
    assert torch.equal(a.images, faces.images)
    assert all(torch.equal(a.attributes[name], faces.attributes[name]) for name in ATTRIBUTES)


def test_condition_holds_the_own_labels_and_zeros_for_the_other_data_set():
    data = two_label_sets(40, seed=1)
    hair, glasses, expression = (
        data.attributes[n] for n in ("hair_colour", "glasses", "expression")
    )
    for i in range(len(data)):
        row, d = data.condition[i], int(data.dataset[i])
        assert row[MASK].tolist() == ([1.0, 0.0] if d == 0 else [0.0, 1.0])
        if d == 0:
            assert row[HAIR_COLOUR].tolist() == F.one_hot(hair[i], 5).float().tolist()
            assert row[GLASSES].item() == float(glasses[i])
            assert row[EXPRESSION].abs().sum() == 0
        else:
            assert row[HAIR_COLOUR].abs().sum() == 0 and row[GLASSES].item() == 0
            assert row[EXPRESSION].tolist() == F.one_hot(expression[i], 5).float().tolist()
    decoded = condition_attributes(data.condition)
    assert torch.equal(decoded["hair_colour"], torch.where(data.dataset == 0, hair, -1))
    assert torch.equal(decoded["expression"], torch.where(data.dataset == 1, expression, -1))


def test_target_condition_sets_the_mask_and_zeroes_the_other_data_set():
    first = target_condition(0, hair_colour="blond", glasses="yes")
    assert first.tolist() == [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0]
    second = target_condition(1, expression="angry", n=3)
    assert second.shape == (3, 13)
    assert second[0].tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1]
    assert torch.equal(second[2], second[0])
    assert target_condition(0, hair_colour=4, glasses=0).tolist() == [
        0,
        0,
        0,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
        1,
        0,
    ]


def test_target_condition_errors_name_the_valid_choices():
    with pytest.raises(ValueError, match="expression.*data set 1.*takes hair_colour, glasses"):
        target_condition(0, hair_colour="red", glasses="no", expression="happy")
    with pytest.raises(ValueError, match="unknown attribute 'hat'.*takes expression"):
        target_condition(1, hat="yes")
    with pytest.raises(ValueError, match="'skin_tone' is labelled in neither"):
        target_condition(1, expression="sad", skin_tone="tan")
    with pytest.raises(ValueError, match="valid values: black, blond, brown, red, grey"):
        target_condition(0, hair_colour="green", glasses="no")
    with pytest.raises(ValueError, match="missing: glasses"):
        target_condition(0, hair_colour="red")
    with pytest.raises(ValueError, match="dataset must be 0"):
        target_condition(2, expression="sad")


def test_random_targets_stay_in_each_examples_data_set_and_follow_the_generator():
    dataset = torch.tensor([0, 1] * 100)
    targets = random_target_conditions(dataset, torch.Generator().manual_seed(0))
    assert torch.equal(
        check_conditions(targets), dataset
    )  # a valid layout, mask = the own data set
    assert targets[dataset == 0][:, EXPRESSION].abs().sum() == 0
    assert targets[dataset == 1][:, : EXPRESSION.start].abs().sum() == 0
    hair = targets[dataset == 0][:, HAIR_COLOUR].argmax(dim=1)
    expression = targets[dataset == 1][:, EXPRESSION].argmax(dim=1)
    assert set(hair.tolist()) == set(range(5)) and set(expression.tolist()) == set(
        range(5)
    )  # every value drawn
    assert 20 < targets[dataset == 0][:, GLASSES.start].sum() < 80
    again = random_target_conditions(dataset, torch.Generator().manual_seed(0))
    other = random_target_conditions(dataset, torch.Generator().manual_seed(1))
    assert torch.equal(targets, again) and not torch.equal(targets, other)


def test_check_conditions_rejects_broken_layouts():
    good = target_condition(0, hair_colour="red", glasses="no", n=2)
    assert check_conditions(good).tolist() == [0, 0]
    bad_mask, leaked, two_hot = good.clone(), good.clone(), good.clone()
    bad_mask[0, MASK] = 1.0
    leaked[1, EXPRESSION.start] = 1.0  # an expression label on a face of data set 0
    two_hot[0, HAIR_COLOUR.start] = 1.0
    with pytest.raises(ValueError, match="mask"):
        check_conditions(bad_mask)
    with pytest.raises(ValueError, match="expression"):
        check_conditions(leaked)
    with pytest.raises(ValueError, match="hair_colour"):
        check_conditions(two_hot)
    with pytest.raises(ValueError, match=r"\(B, 13\)"):
        check_conditions(good[:, :11])


# ---------------------------------------------------------------------------------------------
# Networks


def tiny_generator() -> StarGANGenerator:
    return StarGANGenerator(3, 13, width=4, n_down=2, n_blocks=1)


def tiny_discriminator() -> StarGANDiscriminator:
    return StarGANDiscriminator(SIZE, 3, N_LABELS, width=4)


def test_network_shapes():
    torch.manual_seed(0)
    x = torch.rand(2, 3, SIZE, SIZE) * 2 - 1
    c = target_condition(1, expression="happy", n=2)
    out = tiny_generator()(x, c)
    assert out.shape == (2, 3, SIZE, SIZE) and out.abs().max() < 1
    src, cls = tiny_discriminator()(x)
    assert src.shape == (2, 1, 2, 2) and cls.shape == (2, 11)  # 16 px, 3 layers: a 2 x 2 patch map
    src, cls = StarGANDiscriminator(SIZE, 3, N_LABELS, width=4, n_layers=2)(x)
    assert src.shape == (2, 1, 4, 4) and cls.shape == (2, 11)
    norms = [
        m for m in tiny_discriminator().modules() if isinstance(m, nn.modules.batchnorm._NormBase)
    ]
    assert norms == []  # per-example gradient penalty: no normalisation in D


def test_generator_uses_the_condition():
    torch.manual_seed(0)
    generator = tiny_generator().eval()
    x = torch.rand(1, 3, SIZE, SIZE) * 2 - 1
    blond = generator(x, target_condition(0, hair_colour="blond", glasses="no", n=1))
    grey = generator(x, target_condition(0, hair_colour="grey", glasses="no", n=1))
    difference = (blond - grey).abs()[0].mean(dim=0)  # (16, 16)
    assert (
        difference[6:10, 6:10].min() > 1e-3
    )  # the condition reaches the middle, not only the borders


def test_residual_generator_adds_the_plain_networks_output_to_its_input():
    torch.manual_seed(0)
    plain = StarGANGenerator(3, 13, width=4, n_blocks=1)
    residual = StarGANGenerator(3, 13, width=4, n_blocks=1, residual=True)
    residual.load_state_dict(plain.state_dict())  # the same network r
    x = torch.rand(2, 3, SIZE, SIZE) * 2 - 1
    c = target_condition(0, hair_colour="blond", glasses="yes", n=2)
    expected = (x + plain(x, c)).clamp(-1, 1)
    torch.testing.assert_close(residual(x, c), expected)
    assert not torch.allclose(residual(x, c), plain(x, c))


def test_generator_errors_name_the_expected_shapes():
    generator = tiny_generator()
    x = torch.rand(2, 3, SIZE, SIZE)
    with pytest.raises(ValueError, match=r"shape \(B, 13\).*\(2, 11\)"):
        generator(x, torch.zeros(2, 11))
    with pytest.raises(ValueError, match=r"shape \(B, 13\)"):
        generator(x, torch.zeros(2, 13, 1, 1))
    with pytest.raises(ValueError, match=r"shape \(B, 13\)"):
        generator(x, torch.zeros(2, 13, dtype=torch.long))
    with pytest.raises(ValueError, match="2 images and 3 conditions"):
        generator(x, torch.zeros(3, 13))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        generator(torch.rand(2, 1, SIZE, SIZE), torch.zeros(2, 13))
    with pytest.raises(ValueError, match="divisible by 4"):
        generator(torch.rand(2, 3, 10, 10), torch.zeros(2, 13))
    with pytest.raises(ValueError, match=r"\(B, 3, 16, 16\)"):
        tiny_discriminator()(torch.rand(2, 3, 32, 32))


# ---------------------------------------------------------------------------------------------
# Losses


def hand_log_softmax(values: list[float], k: int) -> float:
    return values[k] - math.log(sum(math.exp(v) for v in values))


def test_classification_loss_matches_the_hand_formula_and_ignores_the_other_data_set():
    logits = torch.tensor(
        [
            [0.5, -1.0, 2.0, 0.0, 0.3, 1.5, 0.2, -0.4, 0.9, 0.0, 1.1],
            [1.0, 0.0, -2.0, 0.5, 0.4, -0.7, 0.6, 0.1, -1.2, 2.2, 0.3],
        ],
        requires_grad=True,
    )
    condition = torch.cat(
        [
            target_condition(0, hair_colour="brown", glasses="yes", n=1),
            target_condition(1, expression="angry", n=1),
        ]
    )
    row0, row1 = logits.tolist()
    hair = -hand_log_softmax(row0[0:5], 2)
    glasses = -math.log(1 / (1 + math.exp(-row0[5])))  # label 1: -log sigmoid(l)
    expression = -hand_log_softmax(row1[6:11], 3)
    expected = (hair + glasses + expression) / 2
    loss = domain_classification_loss(logits, condition)
    assert loss.item() == pytest.approx(expected, rel=1e-5)

    loss.backward()
    assert logits.grad[0, 6:].abs().sum() == 0 and logits.grad[1, :6].abs().sum() == 0
    assert logits.grad[0, :6].abs().sum() > 0 and logits.grad[1, 6:].abs().sum() > 0
    changed = logits.detach().clone()
    changed[0, 6:] = torch.randn(5) * 10  # data set 0 does not label expressions
    changed[1, :6] = torch.randn(6) * 10  # data set 1 does not label hair or glasses
    assert domain_classification_loss(changed, condition).item() == pytest.approx(
        loss.item(), rel=1e-6
    )


def test_classification_loss_binary_entry_for_no_glasses():
    logits = torch.zeros(1, 11)
    logits[0, 5] = 2.0
    logits[0, 0] = 3.0
    condition = target_condition(0, hair_colour="black", glasses="no", n=1)
    expected = -math.log(1 / (1 + math.exp(2.0))) - hand_log_softmax([3.0, 0, 0, 0, 0], 0)
    assert domain_classification_loss(logits, condition).item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match=r"\(B, 11\)"):
        domain_classification_loss(torch.zeros(1, 13), condition)


class Identity(nn.Module):
    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return x


class NegateAndShift(nn.Module):
    """G(x, c) = -x + (w . c): translating there and back gives x - w.c + w.c' exactly."""

    def __init__(self, weights: torch.Tensor):
        super().__init__()
        self.register_buffer("weights", weights)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return -x + (c @ self.weights)[:, None, None, None]


def mixed_batch(n: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, SIZE, SIZE, generator=generator) * 2 - 1
    dataset = torch.arange(n) % 2
    return x, random_target_conditions(dataset, generator)


def test_reconstruction_is_zero_for_the_identity_and_uses_the_original_condition():
    torch.manual_seed(0)
    x, condition = mixed_batch()
    assert reconstruction_loss(x, x).item() == 0
    assert reconstruction_loss(x, x + 0.5).item() == pytest.approx(0.5)
    assert (
        StarGAN(Identity(), tiny_discriminator())
        .generator_losses(x, condition)["reconstruction"]
        .item()
        == 0
    )

    weights = torch.randn(13)
    objective = StarGAN(NegateAndShift(weights), tiny_discriminator())
    torch.manual_seed(5)
    reconstruction = objective.generator_losses(x, condition)["reconstruction"]
    torch.manual_seed(5)  # the same draw of targets as inside generator_losses
    target = random_target_conditions(condition[:, MASK].argmax(dim=1))
    expected = ((condition - target) @ weights).abs().mean()  # |x - (x - w.c + w.c')| per pixel
    assert reconstruction.item() == pytest.approx(expected.item(), rel=1e-5) and expected > 0


def test_discriminator_losses_match_the_formula():
    torch.manual_seed(0)
    generator, discriminator = tiny_generator(), tiny_discriminator()
    objective = StarGAN(generator, discriminator)
    x, condition = mixed_batch()
    target = random_target_conditions(
        condition[:, MASK].argmax(dim=1), torch.Generator().manual_seed(1)
    )
    torch.manual_seed(7)
    losses = objective.discriminator_losses(x, condition, target)

    torch.manual_seed(7)
    alpha = torch.rand(4).view(4, 1, 1, 1)  # the penalty's first draw
    with torch.no_grad():
        fake = generator(x, target)
    real_src, real_cls = discriminator(x)
    fake_src, _ = discriminator(fake)
    critic = fake_src.mean() - real_src.mean()
    x_hat = (alpha * x + (1 - alpha) * fake).requires_grad_(True)
    scores = discriminator(x_hat)[0].mean(
        dim=(1, 2, 3)
    )  # D_src averaged over its patches, per image
    (gradients,) = torch.autograd.grad(scores.sum(), x_hat)
    penalty = ((gradients.flatten(1).norm(dim=1) - 1) ** 2).mean()
    classification = domain_classification_loss(real_cls, condition)
    assert losses["critic"].item() == pytest.approx(critic.item(), rel=1e-5)
    assert losses["penalty"].item() == pytest.approx(penalty.item(), rel=1e-4)
    assert losses["classification"].item() == pytest.approx(classification.item(), rel=1e-5)
    assert losses["total"].item() == pytest.approx(
        (critic + 10 * penalty + classification).item(), rel=1e-5
    )

    losses["total"].backward()  # D's loss must not train G
    assert all(p.grad is None for p in generator.parameters())
    assert all(p.grad is not None for p in discriminator.parameters())


def test_generator_losses_match_the_formula():
    torch.manual_seed(0)
    generator, discriminator = tiny_generator(), tiny_discriminator()
    objective = StarGAN(generator, discriminator, cls_weight=2.0, rec_weight=10.0)
    x, condition = mixed_batch()
    target = random_target_conditions(
        condition[:, MASK].argmax(dim=1), torch.Generator().manual_seed(1)
    )
    losses = objective.generator_losses(x, condition, target)
    fake = generator(x, target)
    fake_src, fake_cls = discriminator(fake)
    adversarial = -fake_src.mean()
    classification = domain_classification_loss(fake_cls, target)
    reconstruction = (x - generator(fake, condition)).abs().mean()
    assert losses["adversarial"].item() == pytest.approx(adversarial.item(), rel=1e-5)
    assert losses["classification"].item() == pytest.approx(classification.item(), rel=1e-5)
    assert losses["reconstruction"].item() == pytest.approx(reconstruction.item(), rel=1e-5)
    total = adversarial + 2 * classification + 10 * reconstruction
    assert losses["total"].item() == pytest.approx(total.item(), rel=1e-5)


def test_objective_rejects_mismatched_targets():
    x, condition = mixed_batch()
    with pytest.raises(ValueError, match="one target per image"):
        StarGAN(tiny_generator(), tiny_discriminator()).generator_losses(
            x, condition, condition[:3]
        )


# ---------------------------------------------------------------------------------------------
# Training


def short_run(seed: int, objective: StarGAN | None = None):
    if objective is None:
        torch.manual_seed(0)
        objective = StarGAN(tiny_generator(), tiny_discriminator())
    x, condition = mixed_batch(8, seed=2)
    adam = {"lr": 1e-4, "betas": (0.5, 0.999)}
    history = train_stargan(
        objective,
        x,
        condition,
        epochs=1,
        batch_size=2,
        g_optimizer=torch.optim.Adam(objective.generator.parameters(), **adam),
        d_optimizer=torch.optim.Adam(objective.discriminator.parameters(), **adam),
        d_steps=2,
        seed=seed,
    )
    return history, objective


def test_training_is_reproducible_and_updates_both_players():
    torch.manual_seed(0)
    before = StarGAN(tiny_generator(), tiny_discriminator())  # the weights short_run starts from
    first, trained = short_run(seed=0)
    second, _ = short_run(seed=0)
    other, _ = short_run(seed=1)
    assert (
        first.steps_per_epoch == 2 and len(first.g_loss) == 2 and len(first.d_loss) == 2
    )  # 8 / (2 x 2)
    for name in (
        "d_loss",
        "wasserstein",
        "penalty",
        "d_classification",
        "g_loss",
        "reconstruction",
    ):
        assert first.per_round(name) == second.per_round(name)
    assert first.d_loss != other.d_loss and first.g_loss != other.g_loss
    for (name, old), new in zip(before.named_parameters(), trained.parameters()):
        assert not torch.equal(old, new), name


def test_n_critic_discriminator_updates_come_before_each_generator_update():
    calls: list[str] = []
    d_totals: list[float] = []

    class Recording(StarGAN):
        def discriminator_losses(self, real, condition, target=None):
            calls.append("d")
            losses = super().discriminator_losses(real, condition, target)
            d_totals.append(losses["total"].item())
            return losses

        def generator_losses(self, real, condition, target=None):
            calls.append("g")
            return super().generator_losses(real, condition, target)

    torch.manual_seed(0)
    objective = Recording(tiny_generator(), tiny_discriminator())
    g_optimizer = torch.optim.Adam(objective.generator_parameters())
    d_optimizer = torch.optim.Adam(objective.discriminator_parameters())
    for player, optimizer in (("D", d_optimizer), ("G", g_optimizer)):
        optimizer.register_step_post_hook(lambda *_, player=player: calls.append(f"{player} step"))
    x, condition = mixed_batch(12, seed=2)
    history = train_stargan(
        objective,
        x,
        condition,
        epochs=1,
        batch_size=2,
        d_steps=3,
        g_optimizer=g_optimizer,
        d_optimizer=d_optimizer,
    )
    assert calls == (["d", "D step"] * 3 + ["g", "G step"]) * 2  # 12 / (2 x 3) generator steps
    assert history.steps_per_epoch == 2 and len(history.per_round("wasserstein")) == 2
    # the discriminator's entries are means over the round's 3 steps
    assert history.d_loss == pytest.approx([sum(d_totals[:3]) / 3, sum(d_totals[3:]) / 3])


def test_training_restores_the_global_stream_and_rejects_tiny_data():
    torch.manual_seed(123)
    objective = StarGAN(tiny_generator(), tiny_discriminator())
    state = torch.get_rng_state()
    short_run(seed=0, objective=objective)
    assert torch.equal(torch.get_rng_state(), state)
    x, condition = mixed_batch(4)
    with pytest.raises(ValueError, match="lower batch_size or d_steps"):
        train_stargan(
            objective,
            x,
            condition,
            epochs=1,
            batch_size=2,
            g_optimizer=torch.optim.Adam(objective.generator.parameters()),
            d_optimizer=torch.optim.Adam(objective.discriminator.parameters()),
            d_steps=5,
        )
