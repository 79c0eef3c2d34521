"""Conditional generators and discriminators, the conditional GAN objective and conditional
accuracy."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F
from shared_data import SHARED_DATA  # noqa: E402
from torch import nn

from course_lib.data.mnist import load_mnist
from course_lib.evaluation.conditional import conditional_accuracy, label_grid
from course_lib.evaluation.digit_judge import QUICK_DIGIT_RECIPE, load_digit_judge
from course_lib.models.conditional import (
    ConditionalDCGANDiscriminator,
    ConditionalDCGANGenerator,
    ConditionalMLPDiscriminator,
    ConditionalMLPGenerator,
)
from course_lib.objectives.conditional_gan import ConditionalGAN
from course_lib.runtime.config import CACHE_DIR_ENV, DATA_DIR_ENV
from course_lib.training.adversarial import train_gan

pytestmark = [
    pytest.mark.usefixtures("quiet_progress"),
    pytest.mark.filterwarnings("ignore::course_lib.data.mnist.DataFallbackWarning"),
]

LATENT = 8


def models() -> list[tuple[nn.Module, nn.Module]]:
    torch.manual_seed(0)
    return [
        (
            ConditionalMLPGenerator(LATENT, 10, hidden=(32,)),
            ConditionalMLPDiscriminator(10, hidden=(32,)),
        ),
        (
            ConditionalDCGANGenerator(LATENT, 10, 28, width=8),
            ConditionalDCGANDiscriminator(10, 28, width=8),
        ),
    ]


@pytest.mark.parametrize("index", [0, 1], ids=["mlp", "dcgan"])
def test_shapes_with_labels_and_condition_vectors(index):
    generator, discriminator = models()[index]
    z, labels = torch.randn(5, LATENT), torch.tensor([0, 3, 9, 1, 1])
    images = generator(z, labels)
    assert images.shape == (5, 1, 28, 28) and images.abs().max() < 1
    assert discriminator(images, labels).shape == (5,)
    generator.eval()  # BatchNorm in eval mode: the two calls must see the same statistics
    assert torch.allclose(generator(z, labels), generator(z, F.one_hot(labels, 10).float()))


@pytest.mark.parametrize("index", [0, 1], ids=["mlp", "dcgan"])
def test_output_depends_on_the_label(index):
    generator, _ = models()[index]
    generator.eval()
    z = torch.randn(4, LATENT)
    assert not torch.allclose(generator(z, torch.full((4,), 2)), generator(z, torch.full((4,), 7)))


@pytest.mark.parametrize("index", [0, 1], ids=["mlp", "dcgan"])
def test_label_errors_name_the_range_and_the_fix(index):
    generator, discriminator = models()[index]
    z, x = torch.randn(2, LATENT), torch.zeros(2, 1, 28, 28)
    with pytest.raises(ValueError, match=r"\[0, 9\].*torch.randint"):
        generator(z, torch.tensor([3, 10]))
    with pytest.raises(ValueError, match=r"\[0, 9\]"):
        discriminator(x, torch.tensor([-1, 0]))
    with pytest.raises(ValueError, match=r"y.long\(\)"):
        generator(z, torch.tensor([1.0, 2.0]))  # float labels
    with pytest.raises(ValueError, match=r"y.view\(-1\)"):
        generator(z, torch.tensor([[1], [2]]))  # a (B, 1) column
    with pytest.raises(ValueError, match="2 examples and 3 labels"):
        generator(z, torch.tensor([1, 2, 3]))


@pytest.mark.parametrize("index", [0, 1], ids=["mlp", "dcgan"])
def test_condition_vector_of_the_wrong_size(index):
    generator, discriminator = models()[index]
    with pytest.raises(ValueError, match="condition vectors of size 10.*got size 7"):
        generator(torch.randn(2, LATENT), torch.zeros(2, 7))
    with pytest.raises(ValueError, match="condition vectors of size 10.*got size 11"):
        discriminator(torch.zeros(2, 1, 28, 28), torch.zeros(2, 11))


def test_objective_needs_matching_classes_and_labelled_data():
    with pytest.raises(ValueError, match="same n_classes"):
        ConditionalGAN(ConditionalMLPGenerator(LATENT, 10), ConditionalMLPDiscriminator(5))
    objective = ConditionalGAN(*models()[0])
    with pytest.raises(TypeError, match=r"\(images, labels\)"):
        objective.discriminator_loss(torch.zeros(2, 1, 28, 28), torch.randn(2, LATENT))


def test_train_gan_indexes_images_and_labels_together():
    """A D that sees a real image with the wrong label would learn nothing: check train_gan keeps
    pairs aligned."""
    seen = []

    class Recorder(ConditionalGAN):
        def discriminator_loss(self, real, z):
            seen.append(real)
            return super().discriminator_loss(real, z)

    labels = torch.arange(40) % 10
    images = (
        (labels.float() / 10).view(-1, 1, 1, 1).expand(-1, 1, 28, 28).contiguous()
    )  # pixel value encodes label
    objective = Recorder(*models()[0])
    optim = dict(
        d_optimizer=torch.optim.Adam(objective.discriminator_parameters(), 1e-3),
        g_optimizer=torch.optim.Adam(objective.generator_parameters(), 1e-3),
    )
    history = train_gan(
        objective,
        (images, labels),
        epochs=1,
        batch_size=8,
        latent_dim=LATENT,
        snapshot_every=5,
        **optim,
    )
    assert len(history.d_loss) == 5 and len(seen) == 5
    for batch_images, batch_labels in seen:
        assert torch.equal(batch_images[:, 0, 0, 0], batch_labels.float() / 10)
    assert history.snapshots[-1][1].shape == (64, 1, 28, 28)
    with pytest.raises(ValueError, match="same length"):
        train_gan(
            objective, (images, labels[:-1]), epochs=1, batch_size=8, latent_dim=LATENT, **optim
        )


def test_label_grid_is_label_by_sample():
    generator, _ = models()[0]
    grid = label_grid(
        generator, LATENT, n_per_class=3, generator_rng=torch.Generator().manual_seed(0)
    )
    assert grid.shape == (30, 1, 28, 28) and grid.min() >= 0 and grid.max() <= 1
    again = label_grid(
        generator, LATENT, n_per_class=3, generator_rng=torch.Generator().manual_seed(0)
    )
    assert torch.equal(grid, again)
    assert not torch.equal(grid[0], grid[3])  # same code, labels 0 and 1


class DigitLookup(nn.Module):
    """A stand-in generator: real MNIST digits of the requested class (or of any class), in
    [-1, 1]."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, honest: bool):
        super().__init__()
        self.n_classes = 10
        self.honest = honest
        self.by_class = [images[labels == c] for c in range(10)]
        self.images = images

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        picks = (z[:, 0].abs() * 1e4).long()  # an arbitrary but code-dependent choice
        if self.honest:
            chosen = torch.stack(
                [self.by_class[c][i % len(self.by_class[c])] for c, i in zip(y.tolist(), picks)]
            )
        else:
            chosen = self.images[picks % len(self.images)]
        return chosen * 2 - 1


@pytest.fixture(scope="module")
def judge_and_digits(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_DIR_ENV, str(tmp_path_factory.mktemp("judge")))
        patch.setenv("COURSE_PROGRESS", "off")
        if (SHARED_DATA / "MNIST" / "raw").is_dir():
            patch.setenv(DATA_DIR_ENV, str(SHARED_DATA))
        elif not os.environ.get(DATA_DIR_ENV, "").strip():
            patch.setenv(DATA_DIR_ENV, str(tmp_path_factory.mktemp("no-data")))
        judge = load_digit_judge(recipe=QUICK_DIGIT_RECIPE)
        data = load_mnist(QUICK_DIGIT_RECIPE.train_size, QUICK_DIGIT_RECIPE.test_size, seed=0)
    return judge, data.test_images, data.test_labels


def test_conditional_accuracy_high_for_the_right_class_and_chance_for_random(judge_and_digits):
    judge, images, labels = judge_and_digits
    rng = torch.Generator().manual_seed(1)
    right = conditional_accuracy(
        judge, DigitLookup(images, labels, honest=True), LATENT, 30, generator_rng=rng
    )
    assert len(right.per_class) == 10
    assert right.overall > 0.75  # the quick judge is about 90% accurate
    assert right.overall == pytest.approx(sum(right.per_class) / 10)
    random = conditional_accuracy(
        judge, DigitLookup(images, labels, honest=False), LATENT, 30, generator_rng=rng
    )
    assert 0.03 < random.overall < 0.2
