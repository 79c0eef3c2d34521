"""Fault injection, part 2: training loops interrupted part-way and continued from their checkpoint.

For each loop of the course (``fit``, the adversarial loop with and without WGAN-GP's random
penalty, CD-k and persistent CD, pix2pix, CycleGAN with its image pools, StarGAN) a run is
stopped by a KeyboardInterrupt in the middle of an epoch, as Ctrl-C or a lost Colab session
would stop it. A new process is then imitated: fresh models with other initial weights, fresh
optimisers, a scrambled global random stream. Continued from the file, the run must end with
exactly the weights and the history of a run that never stopped and never saved anything.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
import torch
from torch import nn

from course_lib.data.face_domains import two_label_sets
from course_lib.data.paired import edges_to_faces
from course_lib.models.blocks import resnet_translator
from course_lib.models.critic import DCGANCritic
from course_lib.models.gan import DCGANGenerator
from course_lib.models.pix2pix import PatchDiscriminator, UNetGenerator
from course_lib.models.rbm import BernoulliRBM
from course_lib.models.stargan import StarGANDiscriminator, StarGANGenerator
from course_lib.objectives.cyclegan import CycleGAN
from course_lib.objectives.gan import StandardGAN
from course_lib.objectives.pix2pix import Pix2Pix
from course_lib.objectives.stargan import StarGAN
from course_lib.objectives.wgan import WGANGP
from course_lib.runtime.checkpoints import Checkpointing, CheckpointMismatchError, read_checkpoint
from course_lib.training import rbm as rbm_module
from course_lib.training.adversarial import train_gan
from course_lib.training.fit import fit
from course_lib.training.rbm import train_rbm
from course_lib.training.translation import train_cyclegan, train_pix2pix, train_stargan

pytestmark = pytest.mark.usefixtures("quiet_progress")


def adam(parameters, lr: float = 1e-3) -> torch.optim.Adam:
    return torch.optim.Adam(parameters, lr=lr, betas=(0.5, 0.999))


def interrupt_after(optimizer: torch.optim.Optimizer, steps: int) -> None:
    """Make ``optimizer`` raise KeyboardInterrupt (Ctrl-C) at its step ``steps + 1``."""
    step, count = optimizer.step, itertools.count(1)

    def step_or_stop(*args, **kwargs):
        if next(count) > steps:
            raise KeyboardInterrupt
        return step(*args, **kwargs)

    optimizer.step = step_or_stop


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def recorded(history) -> dict:
    """A history without its wall-clock times, comparable between runs."""
    saved = history.saved() if hasattr(history, "saved") else dict(history)
    if "snapshots" in saved:  # (rounds, images) pairs: compare the images' values
        saved["snapshots"] = [(done, images.tolist()) for done, images in saved["snapshots"]]
    return {key: value for key, value in saved.items() if not key.endswith("seconds")}


def check_resume(tmp_path, build: Callable, train: Callable, stop_after: int) -> None:
    """``build(init_seed) -> (model, optimizers)``; ``train(model, optimizers, checkpoint)``.

    Runs straight through without a checkpoint; then with one, stopped after ``stop_after``
    optimiser steps (mid-epoch); then continued by a fresh "process". Weights and history must
    equal the straight run's exactly.
    """
    torch.manual_seed(100)
    model, optimizers = build(0)
    straight_history = train(model, optimizers, None)
    straight = weights(model)

    path = tmp_path / "run.pt"
    torch.manual_seed(100)
    model, optimizers = build(0)
    interrupt_after(next(iter(optimizers.values())), stop_after)
    with pytest.raises(KeyboardInterrupt):
        train(model, optimizers, path)
    saved = read_checkpoint(path)
    assert 0 < saved["progress"]["epochs_done"] < saved["progress"]["epochs"]

    torch.manual_seed(12345)  # a new process: other global random state, other initial weights
    model, optimizers = build(7)
    resumed_history = train(model, optimizers, path)
    resumed = weights(model)
    assert resumed.keys() == straight.keys()
    for name in straight:
        assert torch.equal(resumed[name], straight[name]), name
    assert recorded(resumed_history) == recorded(straight_history)
    assert read_checkpoint(path)["progress"]["epochs_done"] == saved["progress"]["epochs"]


# ---- fit ---------------------------------------------------------------------------------------


def test_fit_continues_exactly_after_an_interruption_mid_epoch(tmp_path):
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(0))

    def noisy_loss(model, batch):  # draws from the global stream, which must be restored too
        return (
            (model(batch + 0.1 * torch.randn_like(batch)) - batch.sum(1, keepdim=True))
            .pow(2)
            .mean()
        )

    def build(init_seed):
        torch.manual_seed(init_seed)
        model = nn.Linear(3, 1)
        return model, {"optimizer": adam(model.parameters(), 0.05)}

    def train(model, optimizers, checkpoint):
        return fit(
            model,
            noisy_loss,
            x,
            optimizer=optimizers["optimizer"],
            epochs=4,
            batch_size=8,
            seed=3,
            test_data=x[:10],
            checkpoint=checkpoint,
        )

    check_resume(tmp_path, build, train, stop_after=2 * 7 + 3)  # 7 steps an epoch: in epoch 3


# ---- the adversarial loop ------------------------------------------------------------------------


def test_a_gan_continues_exactly_after_an_interruption_mid_epoch(tmp_path):
    data = 3 + 0.5 * torch.randn(64, 1, generator=torch.Generator().manual_seed(1))

    def build(init_seed):
        torch.manual_seed(init_seed)
        objective = StandardGAN(
            nn.Linear(2, 1),
            nn.Sequential(nn.Linear(1, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1), nn.Flatten(0)),
        )
        return objective, {
            "d": adam(objective.discriminator_parameters(), 1e-2),
            "g": adam(objective.generator_parameters(), 1e-2),
        }

    def train(objective, optimizers, checkpoint):
        return train_gan(
            objective,
            data,
            epochs=4,
            batch_size=16,
            latent_dim=2,
            d_steps=2,
            d_optimizer=optimizers["d"],
            g_optimizer=optimizers["g"],
            seed=5,
            snapshot_every=1,
            epoch_metrics=lambda o: {"mean": o.sample(torch.zeros(1, 2)).item()},
            checkpoint=checkpoint,
        )

    check_resume(tmp_path, build, train, stop_after=2 * 4 + 3)  # 4 D steps an epoch


def test_wgan_gp_continues_exactly_with_its_random_interpolations(tmp_path):
    images = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(2)) * 2 - 1

    def build(init_seed):
        torch.manual_seed(init_seed)
        objective = WGANGP(DCGANGenerator(4, 28, 1, 4), DCGANCritic(28, 1, 4), penalty_weight=10.0)
        return objective, {
            "d": adam(objective.discriminator_parameters()),
            "g": adam(objective.generator_parameters()),
        }

    def train(objective, optimizers, checkpoint):
        return train_gan(
            objective,
            images,
            epochs=3,
            batch_size=8,
            latent_dim=4,
            d_steps=2,
            d_optimizer=optimizers["d"],
            g_optimizer=optimizers["g"],
            seed=1,
            checkpoint=checkpoint,
        )

    check_resume(tmp_path, build, train, stop_after=4 + 1)  # 4 critic steps an epoch


# ---- CD-k and persistent CD ---------------------------------------------------------------------


@pytest.mark.parametrize("persistent", [False, True], ids=["cd-1", "persistent-cd"])
def test_an_rbm_continues_exactly_after_an_interruption_mid_epoch(
    tmp_path, monkeypatch, persistent
):
    data = (torch.rand(60, 12, generator=torch.Generator().manual_seed(3)) < 0.3).float()

    def build(init_seed):
        torch.manual_seed(init_seed)
        return BernoulliRBM(12, 5), {}

    def train(rbm, _, checkpoint):
        return train_rbm(
            rbm,
            data,
            epochs=4,
            batch_size=16,
            learning_rate=0.1,
            k=2,
            persistent=persistent,
            momentum=0.5,
            weight_decay=1e-4,
            decay_to_zero=True,
            seed=4,
            epoch_metrics=lambda r: {"bias": r.visible_bias.sum().item()},
            checkpoint=checkpoint,
        )

    # The RBM has no optimiser: Ctrl-C arrives in its update instead.
    apply_gradient, count = rbm_module.apply_gradient, itertools.count(1)
    stop = {"after": None}

    def apply_or_stop(*args, **kwargs):
        if stop["after"] is not None and next(count) > stop["after"]:
            raise KeyboardInterrupt
        return apply_gradient(*args, **kwargs)

    monkeypatch.setattr(rbm_module, "apply_gradient", apply_or_stop)
    path = tmp_path / "rbm.pt"
    torch.manual_seed(100)
    straight_rbm, _ = build(0)
    straight = train(straight_rbm, None, None)
    stop["after"] = 2 * 4 + 1  # 4 updates an epoch: in epoch 3
    interrupted, _ = build(0)
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, None, path)
    assert read_checkpoint(path)["progress"]["epochs_done"] == 2
    stop["after"] = None
    torch.manual_seed(12345)
    resumed_rbm, _ = build(7)
    resumed = train(resumed_rbm, None, path)
    for name, value in weights(straight_rbm).items():
        assert torch.equal(weights(resumed_rbm)[name], value), name
    assert resumed.metrics == straight.metrics


# ---- the translation loops ----------------------------------------------------------------------


def test_pix2pix_continues_exactly_with_its_dropout(tmp_path):
    edges, faces = edges_to_faces(24, size=32, seed=3)

    def build(init_seed):
        torch.manual_seed(init_seed)
        objective = Pix2Pix(
            UNetGenerator(1, 3, 32, width=4), PatchDiscriminator(4, width=4, n_layers=2)
        )
        return objective, {
            "g": adam(objective.generator.parameters()),
            "d": adam(objective.discriminator.parameters()),
        }

    def train(objective, optimizers, checkpoint):
        return train_pix2pix(
            objective,
            edges * 2 - 1,
            faces * 2 - 1,
            epochs=3,
            batch_size=8,
            g_optimizer=optimizers["g"],
            d_optimizer=optimizers["d"],
            seed=2,
            checkpoint=checkpoint,
        )

    check_resume(tmp_path, build, train, stop_after=3 + 1)


def test_cyclegan_continues_exactly_with_its_image_pools(tmp_path):
    generator = torch.Generator().manual_seed(1)
    domain_a = torch.rand(20, 1, 8, 8, generator=generator) * 2 - 1
    domain_b = torch.rand(16, 3, 8, 8, generator=generator) * 2 - 1

    def build(init_seed):
        torch.manual_seed(init_seed)
        objective = CycleGAN(
            resnet_translator(1, 3, 4, 1, 1),
            resnet_translator(3, 1, 4, 1, 1),
            PatchDiscriminator(1, 4, 1, norm="instance"),
            PatchDiscriminator(3, 4, 1, norm="instance"),
            identity_weight=0.0,
        )
        return objective, {
            "g": adam(objective.generator_parameters()),
            "d": adam(objective.discriminator_parameters()),
        }

    def train(objective, optimizers, checkpoint):
        return train_cyclegan(
            objective,
            domain_a,
            domain_b,
            epochs=3,
            batch_size=4,
            pool_size=6,
            g_optimizer=optimizers["g"],
            d_optimizer=optimizers["d"],
            seed=3,
            checkpoint=checkpoint,
        )

    check_resume(tmp_path, build, train, stop_after=4 + 2)  # 4 steps an epoch; pools full by then


def test_stargan_continues_exactly_with_its_random_targets(tmp_path):
    faces = two_label_sets(32, size=32, seed=0)

    def build(init_seed):
        torch.manual_seed(init_seed)
        objective = StarGAN(StarGANGenerator(3, 13, 4, 2, 1), StarGANDiscriminator(32, 3, 11, 4))
        return objective, {
            "d": adam(objective.discriminator.parameters()),
            "g": adam(objective.generator.parameters()),
        }

    def train(objective, optimizers, checkpoint):
        return train_stargan(
            objective,
            faces.images * 2 - 1,
            faces.condition,
            epochs=3,
            batch_size=8,
            d_steps=2,
            g_optimizer=optimizers["g"],
            d_optimizer=optimizers["d"],
            seed=6,
            checkpoint=checkpoint,
        )

    check_resume(tmp_path, build, train, stop_after=4 + 3)  # 4 D steps an epoch


# ---- what may and may not be continued ---------------------------------------------------------


def small_gan_run(path, **changes):
    settings = {"seed": 5, "batch_size": 16, "d_steps": 1, "epochs": 2} | changes
    data = settings.pop("data", torch.linspace(-1, 1, 64).view(-1, 1))
    torch.manual_seed(0)
    objective = StandardGAN(nn.Linear(2, 1), nn.Sequential(nn.Linear(1, 4), nn.Flatten(0)))
    return train_gan(
        objective,
        data,
        latent_dim=2,
        d_optimizer=adam(objective.discriminator_parameters()),
        g_optimizer=adam(objective.generator_parameters()),
        checkpoint=path,
        **settings,
    )


def test_continuing_with_other_settings_is_refused_with_every_difference(tmp_path):
    path = tmp_path / "gan.pt"
    small_gan_run(path, epochs=1)
    before = path.read_bytes()
    with pytest.raises(CheckpointMismatchError) as info:
        small_gan_run(path, seed=6, batch_size=8, data=torch.linspace(-1, 2, 64).view(-1, 1))
    message = str(info.value)
    for difference in (
        "seed: the file has 5, this run has 6",
        "batch_size: the file has 16",
        "data_digest: the file has",
    ):
        assert difference in message
    assert "another checkpoint path" in message
    assert path.read_bytes() == before


def test_a_finished_run_is_not_relabelled_with_fewer_epochs(tmp_path):
    path = tmp_path / "gan.pt"
    small_gan_run(path, epochs=3)
    before = path.read_bytes()
    with pytest.raises(CheckpointMismatchError, match="already trained 3 epochs, more than the 2"):
        small_gan_run(path, epochs=2)
    assert path.read_bytes() == before


def test_a_finished_run_asked_again_trains_nothing_and_saves_nothing(tmp_path):
    path = tmp_path / "gan.pt"
    first = small_gan_run(path, epochs=2)
    before = path.read_bytes()
    again = small_gan_run(path, epochs=2)
    assert recorded(again) == recorded(first) and path.read_bytes() == before


def test_saving_every_n_epochs_and_after_the_last(tmp_path, monkeypatch):
    saved_after = []
    real = rbm_module.LoopState.end_epoch

    def spy(self, epochs_done, history, **extra):
        real(self, epochs_done, history, **extra)
        if self.checkpointing.path.exists():
            saved_after.append(read_checkpoint(self.checkpointing.path)["progress"]["epochs_done"])

    monkeypatch.setattr(rbm_module.LoopState, "end_epoch", spy)
    data = (torch.rand(20, 6, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    train_rbm(
        BernoulliRBM(6, 3),
        data,
        epochs=5,
        batch_size=10,
        learning_rate=0.1,
        checkpoint=Checkpointing(tmp_path / "rbm.pt", every=2),
    )
    assert sorted(set(saved_after)) == [2, 4, 5]


@pytest.mark.parametrize("every", [0, -1, 1.5, True])
def test_a_bad_save_interval_is_refused(tmp_path, every):
    with pytest.raises(ValueError, match="every .*positive int"):
        Checkpointing(tmp_path / "x.pt", every=every)


def test_weights_alone_are_not_a_run_to_continue(tmp_path):
    from course_lib.runtime.checkpoints import save_checkpoint

    path = tmp_path / "weights.pt"
    save_checkpoint(path, BernoulliRBM(6, 3))
    with pytest.raises(CheckpointMismatchError, match="weights only"):
        train_rbm(
            BernoulliRBM(6, 3),
            torch.ones(4, 6),
            epochs=1,
            batch_size=2,
            learning_rate=0.1,
            checkpoint=path,
        )


def test_continuing_with_another_learning_rate_or_loss_weight_is_refused(tmp_path):
    images = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(2)) * 2 - 1

    def run(lr=1e-3, penalty_weight=10.0, epochs=1):
        torch.manual_seed(0)
        objective = WGANGP(DCGANGenerator(4, 28, 1, 4), DCGANCritic(28, 1, 4), penalty_weight)
        return train_gan(
            objective,
            images,
            epochs=epochs,
            batch_size=8,
            latent_dim=4,
            d_optimizer=adam(objective.discriminator_parameters(), lr),
            g_optimizer=adam(objective.generator_parameters(), lr),
            checkpoint=tmp_path / "w.pt",
        )

    run()
    with pytest.raises(CheckpointMismatchError, match=r"optimizers: the file has .*'lr': 0.001"):
        run(lr=1e-4, epochs=2)
    with pytest.raises(CheckpointMismatchError, match=r"model_settings: .*'penalty_weight': 10.0"):
        run(penalty_weight=1.0, epochs=2)
