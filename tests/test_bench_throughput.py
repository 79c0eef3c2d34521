"""bench/throughput.py compares like with like: same pixels, losses, steps and image counts."""

from __future__ import annotations

import copy
import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib.data.face_domains import random_target_conditions
from course_lib.losses.style import StyleTargets, total_loss
from course_lib.losses.translation import domain_classification_loss
from course_lib.models.autoencoder import ConvAutoencoder
from course_lib.models.blocks import resnet_translator
from course_lib.models.critic import DCGANCritic
from course_lib.models.gan import DCGANDiscriminator, DCGANGenerator
from course_lib.models.pix2pix import PatchDiscriminator
from course_lib.models.rbm import BernoulliRBM
from course_lib.models.stargan import StarGANDiscriminator, StarGANGenerator
from course_lib.models.vae import ConvVAE
from course_lib.models.vgg_features import VGGFeatures
from course_lib.objectives.cyclegan import CycleGAN
from course_lib.objectives.gan import StandardGAN
from course_lib.objectives.stargan import StarGAN
from course_lib.objectives.wgan import WGANGP
from course_lib.training.rbm import cd_gradient

BENCH = Path(__file__).resolve().parent.parent / "bench" / "throughput.py"
_spec = importlib.util.spec_from_file_location("bench_throughput", BENCH)
throughput = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = throughput  # dataclasses look their module up there while the file runs
_spec.loader.exec_module(throughput)

pytestmark = pytest.mark.usefixtures("quiet_progress")


def random_images(n: int, channels: int, size: int = 28, seed: int = 0) -> torch.Tensor:
    """Float images (n, channels, size, size) on the 256 levels a uint8 image can hold."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, channels, size, size), generator=generator).float().div(255)


@pytest.mark.parametrize("channels, signed", [(1, False), (1, True), (3, True)])
def test_loader_batches_hold_exactly_the_course_tensor_rows(channels, signed):
    images = random_images(20, channels)
    pixels = throughput.to_pixels(images)
    course = throughput.course_tensor(pixels, signed)
    torch.testing.assert_close(course, images * 2 - 1 if signed else images, rtol=0, atol=0)
    assert course.is_contiguous()
    # The targets carry each image's index, so a shuffled batch can be matched to its rows.
    loader = throughput.tutorial_loader(pixels, torch.arange(20), signed, batch=8)
    seen = []
    for batch, index in loader:
        assert torch.equal(batch, course[index]), (
            "the tutorial's per-item transforms give other values"
        )
        seen += index.tolist()
    assert sorted(seen) == list(range(20))


def test_autoencoder_loops_take_the_same_step():
    images = random_images(32, 1)
    pixels = throughput.to_pixels(images)
    torch.manual_seed(0)
    course_model = ConvAutoencoder(4)
    tutorial_model = copy.deepcopy(course_model)
    # SGD: an update linear in the gradient, so equal gradients give equal weights
    # (Adam's first step would not).
    throughput.course_fit_epoch(
        course_model,
        throughput.mse_loss,
        torch.optim.SGD(course_model.parameters(), lr=0.5),
        throughput.course_tensor(pixels, False),
        32,
        "cpu",
    )
    images_seen = throughput.tutorial_fit_epoch(
        tutorial_model,
        throughput.mse_loss,
        torch.optim.SGD(tutorial_model.parameters(), lr=0.5),
        throughput.tutorial_loader(pixels, torch.zeros(32), False, 32),
        "cpu",
    )
    assert images_seen == 32
    course_state, tutorial_state = course_model.state_dict(), tutorial_model.state_dict()
    assert not torch.equal(
        course_state["encoder.head.3.weight"],
        ConvAutoencoder(4).state_dict()["encoder.head.3.weight"],
    )
    for name in course_state:
        torch.testing.assert_close(
            tutorial_state[name], course_state[name], rtol=1e-5, atol=1e-6, msg=name
        )


def test_vae_losses_agree():
    x = (random_images(8, 1) > 0.5).float()
    torch.manual_seed(0)
    model = ConvVAE(4)
    torch.manual_seed(1)  # the same reparameterisation noise for both
    course = throughput.bernoulli_vae_loss(model, x)
    torch.manual_seed(1)
    torch.testing.assert_close(throughput.tutorial_vae_loss(model, x), course)


def test_rbm_cd_step_is_the_course_gradient():
    torch.manual_seed(0)
    rbm = BernoulliRBM(784, 32)
    v0 = (random_images(10, 1) > 0.5).float().flatten(1)
    course = cd_gradient(rbm, v0, 1, torch.Generator().manual_seed(3)).gradient.as_tuple()
    tutorial = throughput.tutorial_cd_step(rbm, v0, 1, torch.Generator().manual_seed(3))
    for ours, theirs in zip(tutorial, course):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_dcgan_losses_agree():
    torch.manual_seed(0)
    gan = StandardGAN(DCGANGenerator(8, 28, 1, 8), DCGANDiscriminator(28, 1, 8))
    real, z = random_images(6, 1) * 2 - 1, torch.randn(6, 8)
    g, d = copy.deepcopy(gan.generator), copy.deepcopy(gan.discriminator)
    torch.testing.assert_close(
        throughput.tutorial_discriminator_loss(g, d, real, z), gan.discriminator_loss(real, z)
    )
    torch.testing.assert_close(
        throughput.tutorial_generator_loss(g, d, z), gan.generator_loss(real, z)
    )


def test_wgan_gp_critic_losses_agree():
    torch.manual_seed(0)
    wgan = WGANGP(DCGANGenerator(8, 28, 1, 8), DCGANCritic(28, 1, 8), throughput.GP_WEIGHT)
    real, z = random_images(6, 1) * 2 - 1, torch.randn(6, 8)
    torch.manual_seed(5)  # the penalty's interpolation weights
    course = wgan.discriminator_loss(real, z)
    torch.manual_seed(5)
    tutorial = throughput.tutorial_critic_loss(wgan.generator, wgan.critic, real, z)
    torch.testing.assert_close(tutorial, course)


def test_cyclegan_losses_agree():
    torch.manual_seed(0)
    nets = (
        resnet_translator(1, 3, 4, 2, 1),
        resnet_translator(3, 1, 4, 2, 1),
        PatchDiscriminator(1, 4, 2, norm="instance"),
        PatchDiscriminator(3, 4, 2, norm="instance"),
    )
    objective = CycleGAN(*nets, cycle_weight=throughput.CYCLE_WEIGHT, identity_weight=0.0)
    real_a, real_b = random_images(4, 1) * 2 - 1, random_images(4, 3, seed=1) * 2 - 1
    course = objective.generator_losses(real_a, real_b)
    tutorial, fake_b, fake_a = throughput.tutorial_cycle_generator_loss(*nets, real_a, real_b)
    torch.testing.assert_close(tutorial, course["total"])
    torch.testing.assert_close(fake_b, course["fake_b"])
    course_d = objective.discriminator_loss(real_a, real_b, fake_a, fake_b)
    tutorial_d = throughput.tutorial_lsgan_d_loss(
        nets[2], real_a, fake_a
    ) + throughput.tutorial_lsgan_d_loss(nets[3], real_b, fake_b)
    torch.testing.assert_close(tutorial_d, course_d)


def test_stargan_losses_agree():
    torch.manual_seed(0)
    objective = StarGAN(StarGANGenerator(3, 13, 4, 2, 1), StarGANDiscriminator(32, 3, 11, 4))
    dataset = torch.tensor([0, 1, 1, 0, 1, 0])
    condition = random_target_conditions(dataset, torch.Generator().manual_seed(1))
    target = random_target_conditions(dataset, torch.Generator().manual_seed(2))
    real = random_images(6, 3, size=32) * 2 - 1
    logits = torch.randn(6, 11)
    torch.testing.assert_close(
        throughput.tutorial_label_loss(logits, condition),
        domain_classification_loss(logits, condition),
    )
    torch.manual_seed(7)  # the penalty's interpolation weights
    course_d = objective.discriminator_loss(real, condition, target)
    torch.manual_seed(7)
    tutorial_d = throughput.tutorial_stargan_d_loss(
        objective.generator, objective.discriminator, real, condition, target
    )
    torch.testing.assert_close(tutorial_d, course_d)
    course_g = objective.generator_losses(real, condition, target)["total"]
    tutorial_g = throughput.tutorial_stargan_g_loss(
        objective.generator, objective.discriminator, real, condition, target
    )
    torch.testing.assert_close(tutorial_g, course_g)
    # The tutorial loop draws targets within each example's own data set, as the course does.
    assert torch.equal(throughput.random_targets(condition)[:, 11:], condition[:, 11:])


def test_gatys_tutorial_network_gives_the_course_loss():
    content_layer, style_layers = "conv2_2", ("conv1_1", "conv2_1")
    extractor = VGGFeatures(
        style_layers + (content_layer,), weights="random", pooling="avg", seed=0
    )
    features = throughput.tutorial_vgg(extractor)
    assert not any(isinstance(layer, torch.nn.MaxPool2d) for layer in features)
    generator = torch.Generator().manual_seed(0)
    content, style, image = (torch.rand(1, 3, 32, 32, generator=generator) for _ in range(3))
    model, content_losses, style_losses = throughput.tutorial_style_model(
        features, content, style, content_layer, style_layers
    )
    tutorial = throughput.tutorial_style_loss(model, content_losses, style_losses, image)
    course = total_loss(
        extractor(image),
        extractor(content)[content_layer],
        StyleTargets.from_features(extractor(style), style_layers),
        content_layer=content_layer,
        alpha=throughput.STYLE_ALPHA,
        beta=throughput.STYLE_BETA,
        style_weights={layer: 1 / len(style_layers) for layer in style_layers},
    ).total
    torch.testing.assert_close(tutorial, course, rtol=1e-4, atol=0)
    # Cut right after the deepest loss layer, as the course's extractor is.
    assert isinstance(model[-1], throughput.ContentLoss)


@pytest.mark.filterwarnings("ignore::course_lib.data.mnist.DataFallbackWarning")
def test_quick_run_writes_a_table_with_positive_rates_and_ratios(
    offline_data_dir, tmp_path, monkeypatch
):
    monkeypatch.setattr(
        throughput.torch.cuda, "is_available", lambda: False
    )  # the CPU row only, whatever the machine
    out = tmp_path / "results.md"
    throughput.main(["--quick", "--models", "ae", "--out", str(out)])
    text = out.read_text(encoding="utf-8")
    assert "Written by `make bench-throughput` on" in text and "torch threads" in text
    rows = [line for line in text.splitlines() if line.startswith("| AE")]
    assert len(rows) == 1
    course, tutorial, ratio = (cell.strip() for cell in rows[0].strip("|").split("|")[3:6])
    course_rate, tutorial_rate = (
        float(value.split()[0].replace(",", "")) for value in (course, tutorial)
    )
    assert (
        course_rate > 0
        and tutorial_rate > 0
        and math.isfinite(course_rate)
        and math.isfinite(tutorial_rate)
    )
    assert float(ratio) > 0


def test_paths_that_train_on_different_numbers_of_images_are_refused():
    with pytest.raises(RuntimeError, match="unfair"):
        throughput.compare(lambda n: n, lambda n: n - 1, warm=1, count=8, repeats=1, device="cpu")


def test_ratio_above_one_means_the_course_is_faster():
    assert throughput.Row("m", "w", "cpu", "images/s", course=200.0, tutorial=100.0).ratio == 2.0
    assert throughput.Row("m", "w", "cpu", "s/iteration", course=0.5, tutorial=1.0).ratio == 2.0


def test_an_unknown_model_name_is_refused_with_the_valid_names(capsys):
    with pytest.raises(SystemExit):
        throughput.parse_args(["--models", "ae", "gan"])
    error = capsys.readouterr().err
    assert "invalid choice: 'gan'" in error and "wgan-gp" in error


def test_quantising_keeps_mnist_values_and_rounds_others_to_the_nearest_level():
    images = torch.tensor([0.0, 0.31, 0.5, 1.0, 128 / 255]).view(1, 1, 1, 5)
    assert throughput.to_pixels(images).tolist() == [[[0, 79, 128, 255, 128]]]
    assert throughput.to_pixels(images).dtype == np.uint8
