"""pix2pix: U-Net and PatchGAN shapes, the objective and its ablations, paired data, sharpness."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_lib.data.paired import edges_to_faces
from course_lib.evaluation.image_quality import laplacian_variance
from course_lib.models.pix2pix import (
    PatchDiscriminator,
    UNetGenerator,
    patch_map_size,
    receptive_field,
)
from course_lib.objectives.pix2pix import Pix2Pix
from course_lib.training.translation import train_pix2pix

pytestmark = pytest.mark.usefixtures("quiet_progress")


@pytest.mark.parametrize("size", [32, 64])
def test_unet_output_matches_input_size(size):
    torch.manual_seed(0)
    generator = UNetGenerator(1, 3, size, width=4)
    out = generator(torch.rand(2, 1, size, size))
    assert out.shape == (2, 3, size, size) and out.abs().max() <= 1


def test_unet_gradient_reaches_the_first_layer_and_skips_carry_detail():
    torch.manual_seed(0)
    generator = UNetGenerator(1, 3, 32, width=4)
    generator(torch.rand(2, 1, 32, 32)).square().mean().backward()
    first = generator.encoder[0][0].weight.grad
    assert first is not None and first.abs().sum() > 0
    # Through the full-resolution skip, one input pixel changes the output near it.
    generator.eval()
    x = torch.zeros(1, 1, 32, 32)
    moved = x.clone()
    moved[0, 0, 10, 10] = 1.0
    difference = (generator(moved) - generator(x)).abs().sum(dim=1)[0]  # (32, 32)
    assert difference[8:13, 8:13].sum() > 0


def test_unet_rejects_other_sizes_and_channels():
    with pytest.raises(ValueError, match="32, 64"):
        UNetGenerator(1, 3, 28)
    with pytest.raises(ValueError, match=r"\(B, 1, 32, 32\)"):
        UNetGenerator(1, 3, 32, width=4)(torch.rand(2, 3, 32, 32))


@pytest.mark.parametrize(("size", "n_layers", "side"), [(32, 3, 2), (32, 2, 6), (64, 3, 6)])
def test_patch_discriminator_map_size(size, n_layers, side):
    discriminator = PatchDiscriminator(4, width=4, n_layers=n_layers)
    logits = discriminator(torch.rand(2, 4, size, size))
    assert logits.shape == (2, 1, side, side) and patch_map_size(size, n_layers) == side


def test_patch_discriminator_receptive_field_and_errors():
    assert receptive_field(3) == 70  # the paper's 70 x 70 PatchGAN
    with pytest.raises(ValueError, match=r"torch.cat\(\[condition, image\], dim=1\)"):
        PatchDiscriminator(4, width=4)(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match="lower n_layers"):
        PatchDiscriminator(4, width=4, n_layers=4)(torch.rand(2, 4, 32, 32))


def test_instance_norm_discriminator_scores_each_image_on_its_own():
    torch.manual_seed(0)
    images = torch.rand(4, 3, 16, 16)
    instance = PatchDiscriminator(3, width=4, n_layers=2, norm="instance")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in instance.modules())
    for training in (True, False):
        instance.train(training)
        with torch.no_grad():
            assert torch.allclose(instance(images)[:1], instance(images[:1]), atol=1e-6)
    # The check has teeth: BatchNorm in train mode mixes the batch's statistics into each score.
    batch = PatchDiscriminator(3, width=4, n_layers=2).train()
    with torch.no_grad():
        assert not torch.allclose(batch(images)[:1], batch(images[:1]), atol=1e-3)


def test_patch_discriminator_rejects_unknown_norm():
    with pytest.raises(ValueError, match=r"\['batch', 'instance'\].*'layer'"):
        PatchDiscriminator(3, width=4, norm="layer")


def tiny_pairs(n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    edges, faces = edges_to_faces(n, size=32, seed=3)
    return edges, faces * 2 - 1  # targets in the generator's [-1, 1]


def test_l1_only_objective_reduces_l1():
    torch.manual_seed(0)
    objective = Pix2Pix(
        UNetGenerator(1, 3, 32, width=8), PatchDiscriminator(4, width=8), adversarial_weight=0.0
    )
    edges, faces = tiny_pairs()
    optimizer = torch.optim.Adam(objective.generator.parameters(), lr=2e-3, betas=(0.5, 0.999))
    history = train_pix2pix(objective, edges, faces, epochs=25, batch_size=8, g_optimizer=optimizer)
    l1 = history.terms["l1"]
    assert history.d_loss == [] and set(history.terms["g_adversarial"]) == {0.0}
    assert sum(l1[-5:]) / 5 < 0.6 * l1[0]  # a mean of the last steps: dropout makes each noisy


def test_full_and_gan_only_objectives_train_both_players_reproducibly():
    def run() -> list[float]:
        torch.manual_seed(0)
        objective = Pix2Pix(
            UNetGenerator(1, 3, 32, width=4),
            PatchDiscriminator(4, width=4, n_layers=2),
            l1_weight=0,
        )
        history = train_pix2pix(
            objective,
            *tiny_pairs(),
            epochs=2,
            batch_size=4,
            seed=5,
            g_optimizer=torch.optim.Adam(
                objective.generator.parameters(), 2e-4, betas=(0.5, 0.999)
            ),
            d_optimizer=torch.optim.Adam(
                objective.discriminator.parameters(), 2e-4, betas=(0.5, 0.999)
            ),
        )
        assert len(history.d_loss) == len(history.terms["l1"]) == 4
        assert len(history.epoch_means("l1")) == len(history.epoch_d_loss) == 2
        return history.d_loss + history.terms["g_adversarial"]

    assert run() == run()


def test_each_minibatch_updates_the_discriminator_then_the_generator():
    calls: list[str] = []

    class Recording(Pix2Pix):
        def discriminator_loss(self, inputs, targets):
            calls.append("d")
            return super().discriminator_loss(inputs, targets)

        def generator_losses(self, inputs, targets):
            calls.append("g")
            return super().generator_losses(inputs, targets)

    torch.manual_seed(0)
    objective = Recording(UNetGenerator(1, 3, 32, width=4), PatchDiscriminator(4, width=4))
    optimizers = {
        "g_optimizer": torch.optim.Adam(objective.generator_parameters()),
        "d_optimizer": torch.optim.Adam(objective.discriminator_parameters()),
    }
    for player, optimizer in (("D", optimizers["d_optimizer"]), ("G", optimizers["g_optimizer"])):
        optimizer.register_step_post_hook(lambda *_, player=player: calls.append(f"{player} step"))
    history = train_pix2pix(objective, *tiny_pairs(), epochs=1, batch_size=4, **optimizers)
    assert calls == ["d", "D step", "g", "G step"] * 2  # 8 pairs in minibatches of 4
    assert history.steps_per_epoch == 2 and history.epoch_d_loss and history.epoch_g_loss


def test_generator_losses_follow_the_formula():
    torch.manual_seed(0)
    objective = Pix2Pix(
        UNetGenerator(1, 3, 32, width=4), PatchDiscriminator(4, width=4, n_layers=2), l1_weight=10
    )
    objective.eval()
    edges, faces = tiny_pairs(2)
    losses = objective.generator_losses(edges, faces)
    fake = objective.translate(edges)
    logits = objective.discriminator(torch.cat([edges, fake], dim=1))
    assert torch.allclose(losses["l1"], (fake - faces).abs().mean())
    assert torch.allclose(losses["adversarial"], -F.logsigmoid(logits).mean())
    assert torch.allclose(losses["total"], losses["adversarial"] + 10 * losses["l1"])


def test_objective_argument_errors():
    generator, discriminator = UNetGenerator(1, 3, 32, width=4), PatchDiscriminator(4, width=4)
    with pytest.raises(ValueError, match="not both 0"):
        Pix2Pix(generator, discriminator, l1_weight=0, adversarial_weight=0)
    with pytest.raises(ValueError, match="d_optimizer"):
        train_pix2pix(
            Pix2Pix(generator, discriminator),
            *tiny_pairs(),
            epochs=1,
            batch_size=4,
            g_optimizer=torch.optim.Adam(generator.parameters()),
        )


def test_paired_data_is_deterministic_and_in_range():
    edges, faces = edges_to_faces(6, size=32, seed=1)
    assert edges.shape == (6, 1, 32, 32) and faces.shape == (6, 3, 32, 32)
    assert edges.min() >= 0 and edges.max() <= 1 and faces.min() >= 0 and faces.max() <= 1
    again_edges, again_faces = edges_to_faces(6, size=32, seed=1)
    assert torch.equal(edges, again_edges) and torch.equal(faces, again_faces)
    assert not torch.equal(faces, edges_to_faces(6, size=32, seed=2)[1])
    assert edges.mean() > 0.01  # the drawings have lines


def test_laplacian_variance_falls_with_blur():
    _, faces = edges_to_faces(4, size=32, seed=0)
    box = torch.full((3, 1, 3, 3), 1 / 9)
    blurred = F.conv2d(F.pad(faces, (1, 1, 1, 1), mode="replicate"), box, groups=3)
    sharp, soft = laplacian_variance(faces), laplacian_variance(blurred)
    assert sharp.shape == (4,) and (sharp > soft).all()
    assert laplacian_variance(torch.full((1, 1, 8, 8), 0.3)).item() == pytest.approx(0.0)
