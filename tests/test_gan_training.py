"""The GAN training loop: Algorithm 5.2's step counts, snapshots, history, seeding, NaN guard,
learning."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch
from torch import nn

from course_lib.losses.adversarial import discriminator_loss, generator_loss_non_saturating
from course_lib.models.gan import BiGANEncoder, JointDiscriminator, MLPDiscriminator, MLPGenerator
from course_lib.objectives.gan import BiGAN, GANObjective, StandardGAN, sample_latent
from course_lib.training.adversarial import train_gan
from course_lib.training.batches import ResidentData
from course_lib.training.game import AdversarialHistory
from course_lib.training.steps import NonFiniteLossError, minibatches

pytestmark = pytest.mark.usefixtures("quiet_progress")

LATENT = 2


def tiny_gan(init_seed: int = 0, generator_loss: str = "non_saturating") -> StandardGAN:
    torch.manual_seed(init_seed)
    generator = nn.Linear(LATENT, 1)
    discriminator = nn.Sequential(
        nn.Linear(1, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1), nn.Flatten(0)
    )
    return StandardGAN(generator, discriminator, generator_loss)


def optimizers(objective: GANObjective, lr: float = 1e-2) -> dict[str, torch.optim.Optimizer]:
    return {
        "d_optimizer": torch.optim.Adam(
            objective.discriminator_parameters(), lr=lr, betas=(0.5, 0.999)
        ),
        "g_optimizer": torch.optim.Adam(
            objective.generator_parameters(), lr=lr, betas=(0.5, 0.999)
        ),
    }


def run_gan(
    objective: GANObjective, data: torch.Tensor, lr: float = 1e-2, **settings
) -> AdversarialHistory:
    """train_gan with LATENT-dimensional codes and Adam for both players."""
    return train_gan(objective, data, latent_dim=LATENT, **optimizers(objective, lr), **settings)


def one_d_data(n: int = 64, mean: float = 3.0) -> torch.Tensor:
    return mean + 0.5 * torch.randn(n, 1, generator=torch.Generator().manual_seed(123))


class CountingGAN(StandardGAN):
    """A StandardGAN that records every call train_gan makes, with the real batch and the mode."""

    def __init__(self):
        super().__init__(nn.Linear(LATENT, 1), nn.Sequential(nn.Linear(1, 1), nn.Flatten(0)))
        self.calls: list[str] = []
        self.real_batches: list[torch.Tensor] = []
        self.modes: list[bool] = []

    def discriminator_loss(self, real, z):
        self.calls.append("d")
        self.real_batches.append(real.clone())
        self.modes.append(self.training)
        return super().discriminator_loss(real, z)

    def generator_loss(self, real, z):
        self.calls.append("g")
        self.modes.append(self.training)
        return super().generator_loss(real, z)

    def after_discriminator_step(self):
        self.calls.append("after")


@pytest.mark.parametrize("d_steps", [1, 3])
def test_k_discriminator_steps_per_generator_step(d_steps):
    objective = CountingGAN()
    data = torch.arange(40.0).unsqueeze(1)  # 40 rows in batches of 4: 10 batches an epoch
    history = run_gan(objective, data, epochs=2, batch_size=4, d_steps=d_steps)
    steps_per_epoch = 10 // d_steps
    assert history.steps_per_epoch == steps_per_epoch
    assert objective.calls == (["d", "after"] * d_steps + ["g"]) * (2 * steps_per_epoch)
    assert len(history.d_loss) == len(history.g_loss) == 2 * steps_per_epoch
    assert len(history.epoch_d_loss) == len(history.epoch_g_loss) == 2
    assert history.epoch_g_loss[0] == pytest.approx(
        sum(history.g_loss[:steps_per_epoch]) / steps_per_epoch
    )
    assert all(objective.modes)  # train mode throughout


def test_the_k_discriminator_updates_come_before_the_generator_update():
    """Algorithm 5.2's order, seen from the optimisers: k steps of D's, then one of G's."""
    objective = CountingGAN()
    optimizer = optimizers(objective)
    for player, name in (("D", "d_optimizer"), ("G", "g_optimizer")):
        optimizer[name].register_step_post_hook(
            lambda *_, player=player: objective.calls.append(f"{player} step")
        )
    train_gan(
        objective,
        torch.arange(24.0).unsqueeze(1),
        epochs=1,
        batch_size=4,
        d_steps=3,
        latent_dim=LATENT,
        **optimizer,
    )
    one_round = ["d", "D step", "after"] * 3 + ["g", "G step"]
    assert objective.calls == one_round * 2  # 6 minibatches of 4: 2 generator steps


def test_each_discriminator_step_draws_its_own_real_minibatch():
    objective = CountingGAN()
    data = torch.arange(40.0).unsqueeze(1)
    run_gan(objective, data, epochs=2, batch_size=4, d_steps=3)
    # Within an epoch (3 generator steps x 3 batches) no real example repeats; one batch of 4 is
    # left out.
    first_epoch = torch.cat(objective.real_batches[:9]).flatten()
    assert len(first_epoch.unique()) == 36
    assert not torch.equal(
        first_epoch, torch.cat(objective.real_batches[9:]).flatten()
    )  # reshuffled


def test_discriminator_loss_is_the_mean_of_the_k_steps():
    values = iter([1.0, 2.0, 6.0, 4.0, 4.0, 4.0])

    class Scripted(StandardGAN):
        def discriminator_loss(self, real, z):
            return super().discriminator_loss(real, z) * 0 + next(values)

    objective = Scripted(nn.Linear(LATENT, 1), nn.Sequential(nn.Linear(1, 1), nn.Flatten(0)))
    history = run_gan(objective, one_d_data(12), epochs=1, batch_size=2, d_steps=3)
    assert history.d_loss == pytest.approx([3.0, 4.0])


def test_snapshots_at_the_right_generator_steps():
    objective = tiny_gan()
    z = sample_latent(5, LATENT, torch.Generator().manual_seed(9))
    history = run_gan(
        objective, one_d_data(40), epochs=3, batch_size=4, snapshot_every=4, snapshot_z=z
    )
    # 10 generator steps an epoch, 30 in all
    assert [step for step, _ in history.snapshots] == [0, 4, 8, 12, 16, 20, 24, 28, 30]
    for _, images in history.snapshots:
        assert images.shape == (5, 1) and images.device.type == "cpu" and not images.requires_grad
    with torch.no_grad():
        torch.testing.assert_close(
            history.snapshots[-1][1], objective.sample(z)
        )  # the final generator on z
    assert not torch.equal(history.snapshots[0][1], history.snapshots[-1][1])


def test_default_snapshot_codes_are_fixed_by_the_seed_and_do_not_change_training():
    runs = []
    for every in (None, 5, 5):
        objective = tiny_gan()
        history = run_gan(
            objective, one_d_data(40), epochs=1, batch_size=4, seed=3, snapshot_every=every
        )
        runs.append((objective, history))
    (plain, plain_history), (a, a_history), (_, b_history) = runs
    assert plain_history.snapshots == []
    assert [s for s, _ in a_history.snapshots] == [0, 5, 10] and a_history.snapshots[0][
        1
    ].shape == (64, 1)
    assert all(
        torch.equal(x, y) for (_, x), (_, y) in zip(a_history.snapshots, b_history.snapshots)
    )
    assert torch.equal(
        plain.generator.weight, a.generator.weight
    )  # taking snapshots changed nothing
    assert plain_history.d_loss == a_history.d_loss


def test_same_seed_same_weights_different_seed_different_weights():
    def run(seed):
        objective = tiny_gan(init_seed=0)
        run_gan(objective, one_d_data(), epochs=2, batch_size=8, d_steps=2, seed=seed)
        return objective.state_dict()

    a, b, c = run(1), run(1), run(2)
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert not torch.equal(a["generator.weight"], c["generator.weight"])


def test_randomness_inside_the_objective_is_seeded_and_the_global_stream_restored():
    class Noisy(StandardGAN):  # draws from torch's global RNG, as dropout or WGAN-GP would
        def discriminator_loss(self, real, z):
            return super().discriminator_loss(real + 0.1 * torch.randn_like(real), z)

    def run(global_seed):
        torch.manual_seed(0)
        objective = Noisy(nn.Linear(LATENT, 1), nn.Sequential(nn.Linear(1, 1), nn.Flatten(0)))
        torch.manual_seed(global_seed)  # the global state before the run must not matter
        before = torch.get_rng_state()
        history = run_gan(objective, one_d_data(), epochs=1, batch_size=8, seed=4)
        assert torch.equal(torch.get_rng_state(), before)
        return history.d_loss

    assert run(1000) == run(2000)


def test_non_finite_losses_raise_with_the_player_named():
    class BrokenDiscriminator(StandardGAN):
        def discriminator_loss(self, real, z):
            return super().discriminator_loss(real, z) * float("nan")

    class BrokenGenerator(StandardGAN):
        def generator_loss(self, real, z):
            return super().generator_loss(real, z) + float("inf")

    for broken, player in ((BrokenDiscriminator, "Discriminator"), (BrokenGenerator, "Generator")):
        objective = broken(nn.Linear(LATENT, 1), nn.Sequential(nn.Linear(1, 1), nn.Flatten(0)))
        before = {key: value.clone() for key, value in objective.state_dict().items()}
        with pytest.raises(
            NonFiniteLossError, match=rf"{player} loss: .*epoch 1, step 0.*learning rate"
        ):
            run_gan(objective, one_d_data(), epochs=1, batch_size=8)
        if player == "Discriminator":  # nothing was applied before the broken step
            assert all(
                torch.equal(before[key], value) for key, value in objective.state_dict().items()
            )
        assert all(p.requires_grad for p in objective.parameters())  # D is unfrozen again


def test_epoch_metrics_see_eval_mode_and_are_recorded_per_epoch():
    seen = []

    def measure(objective):
        seen.append((objective.training, torch.is_grad_enabled()))
        return {"generated_mean": objective.sample(torch.zeros(1, LATENT)).item(), "constant": 7}

    objective = tiny_gan()
    history = run_gan(objective, one_d_data(), epochs=3, batch_size=8, epoch_metrics=measure)
    assert seen == [(False, False)] * 3
    assert (
        history.metrics["constant"] == [7.0, 7.0, 7.0]
        and len(history.metrics["generated_mean"]) == 3
    )
    assert objective.training
    assert isinstance(history, AdversarialHistory) and history.seconds > 0


def test_each_player_step_computes_no_gradients_for_the_other_player():
    objective = tiny_gan()
    objective.discriminator_loss(one_d_data(8), torch.randn(8, LATENT)).backward()
    assert all(p.grad is None for p in objective.generator_parameters())

    class Watched(StandardGAN):
        def generator_loss(self, real, z):
            d_trainable.append(any(p.requires_grad for p in self.discriminator_parameters()))
            return super().generator_loss(real, z)

    d_trainable: list[bool] = []
    watched = Watched(nn.Linear(LATENT, 1), nn.Sequential(nn.Linear(1, 1), nn.Flatten(0)))
    run_gan(watched, one_d_data(), epochs=1, batch_size=8)
    assert d_trainable == [False] * 8  # D frozen during each generator step...
    assert all(p.requires_grad for p in watched.parameters())  # ...and trainable again afterwards


def test_rejects_bad_settings():
    objective = tiny_gan()
    with pytest.raises(ValueError, match="at least 1"):
        run_gan(objective, one_d_data(), epochs=1, batch_size=8, d_steps=0)
    with pytest.raises(ValueError, match="lower batch_size or d_steps"):
        run_gan(objective, one_d_data(20), epochs=1, batch_size=8, d_steps=3)
    with pytest.raises(ValueError, match="generator_loss must be one of"):
        tiny_gan(generator_loss="wasserstein")


def test_sample_latent_is_standard_normal_and_seeded():
    z = sample_latent(4000, 3, torch.Generator().manual_seed(0))
    assert z.shape == (4000, 3) and z.device.type == "cpu"
    assert z.mean().abs() < 0.05 and (z.std() - 1).abs() < 0.05
    assert torch.equal(z, sample_latent(4000, 3, torch.Generator().manual_seed(0)))


@pytest.mark.parametrize("generator_loss", ["non_saturating", "saturating"])
def test_a_few_hundred_steps_move_generated_samples_toward_the_data(generator_loss):
    data = one_d_data(256, mean=3.0)
    objective = tiny_gan(generator_loss=generator_loss)
    z = sample_latent(500, LATENT, torch.Generator().manual_seed(1))
    with torch.no_grad():
        start = objective.sample(z).mean().item()
    history = run_gan(objective, data, epochs=12, batch_size=16, lr=2e-2)
    with torch.no_grad():
        end = objective.sample(z).mean().item()
    assert len(history.g_loss) == 192
    assert abs(start - 3.0) > 2.0
    assert abs(end - 3.0) < 0.5 * abs(start - 3.0)


def small_bigan() -> BiGAN:
    torch.manual_seed(0)
    shape = (1, 4, 4)
    return BiGAN(
        MLPGenerator(LATENT, shape, hidden=(8,)),
        BiGANEncoder(shape, LATENT, hidden=(8,)),
        JointDiscriminator(shape, LATENT, hidden=(8,)),
    )


def test_bigan_losses_follow_the_paper():
    objective = small_bigan()
    x, z = torch.rand(6, 1, 4, 4) * 2 - 1, torch.randn(6, LATENT)
    with torch.no_grad():
        real = objective.discriminator(x, objective.encoder(x))
        fake = objective.discriminator(objective.generator(z), z)
        torch.testing.assert_close(
            objective.discriminator_loss(x, z), discriminator_loss(real, fake)
        )
        swapped = generator_loss_non_saturating(fake) + generator_loss_non_saturating(
            -real
        )  # -log(1 - D(x, E(x)))
        torch.testing.assert_close(objective.generator_loss(x, z), swapped)
    generator_side = set(objective.generator_parameters())
    assert (
        set(objective.encoder.parameters()) | set(objective.generator.parameters())
        == generator_side
    )
    assert not generator_side & set(objective.discriminator_parameters())


def test_bigan_training_updates_generator_encoder_and_discriminator():
    objective = small_bigan()
    before = {name: value.clone() for name, value in objective.state_dict().items()}
    data = torch.rand(32, 1, 4, 4) * 2 - 1
    history = run_gan(objective, data, epochs=2, batch_size=8, snapshot_every=4)
    for part in ("generator", "encoder", "discriminator"):
        after = {
            name: value for name, value in objective.state_dict().items() if name.startswith(part)
        }
        changed = [not torch.equal(before[name], value) for name, value in after.items()]
        assert changed and all(changed), part
    assert history.snapshots[-1][1].shape == (64, 1, 4, 4)
    assert objective.reconstruct(data[:3]).shape == (3, 1, 4, 4) and objective.encode(
        data[:3]
    ).shape == (3, LATENT)


def test_standard_gan_trains_image_models():
    torch.manual_seed(0)
    objective = StandardGAN(
        MLPGenerator(LATENT, (1, 4, 4), hidden=(8,)), MLPDiscriminator((1, 4, 4), hidden=(8,))
    )
    history = run_gan(objective, torch.rand(16, 1, 4, 4) * 2 - 1, epochs=1, batch_size=4)
    assert len(history.d_loss) == 4 and all(torch.isfinite(torch.tensor(history.d_loss)))


def test_tuple_data_is_indexed_together():
    """(x, x + 100) pairs: every minibatch the objective sees keeps its rows aligned."""
    seen = []

    class PairGAN(StandardGAN):
        def discriminator_loss(self, real, z):
            seen.append(real)
            return super().discriminator_loss(real[0], z)

        def generator_loss(self, real, z):
            return super().generator_loss(real[0], z)

    x = one_d_data(32)
    run_gan(PairGAN(*tiny_gan().children()), (x, x + 100), epochs=2, batch_size=8)
    assert len(seen) == 8 and all(torch.equal(b, a + 100) for a, b in seen)
    with pytest.raises(ValueError, match="same length"):
        run_gan(tiny_gan(), (x, x[:-1]), epochs=1, batch_size=8)


# --- the shared pieces: one history type, minibatches ------------------------------------------


def test_every_adversarial_loop_returns_the_one_history_type():
    history = run_gan(tiny_gan(), one_d_data(), epochs=2, batch_size=8)
    assert type(history) is AdversarialHistory and history.terms == {}


def test_history_records_rounds_and_takes_epoch_means():
    history = AdversarialHistory(steps_per_epoch=2)
    for d, g, cycle in ((1.0, 4.0, 0.5), (3.0, 6.0, 1.5), (5.0, 8.0, 2.5), (7.0, 10.0, 3.5)):
        history.record({"d_loss": d, "g_loss": g, "cycle_a": cycle})
        if len(history.g_loss) % 2 == 0:
            history.close_epoch()
    assert history.d_loss == [1.0, 3.0, 5.0, 7.0] and history.terms == {
        "cycle_a": [0.5, 1.5, 2.5, 3.5]
    }
    assert history.epoch_d_loss == [2.0, 6.0] and history.epoch_g_loss == [5.0, 9.0]
    assert history.epoch_means("cycle_a") == [1.0, 3.0]
    assert history.epoch_means("d_loss") == history.epoch_d_loss
    with pytest.raises(KeyError, match="'l1'.*cycle_a"):
        history.epoch_means("l1")


def test_history_without_a_discriminator_has_no_discriminator_means():
    history = AdversarialHistory(steps_per_epoch=1)
    history.record({"g_loss": 2.0})
    history.close_epoch()
    assert history.d_loss == history.epoch_d_loss == [] and history.epoch_g_loss == [2.0]


def test_a_saved_history_rebuilds_as_it_was():
    history = run_gan(tiny_gan(), one_d_data(), epochs=2, batch_size=8)
    saved = {key: value for key, value in asdict(history).items() if key != "snapshots"}
    # as notebooks 07 and 09 rebuild a checkpoint's history
    assert AdversarialHistory.from_saved(saved) == history
    # A GAN checkpoint written before the histories were merged has no ``terms``.
    older = {key: value for key, value in saved.items() if key != "terms"}
    assert AdversarialHistory.from_saved(older).epoch_g_loss == history.epoch_g_loss


def test_an_older_cyclegan_history_keeps_its_terms():
    # Before the merge, CycleGAN's and StarGAN's per-round terms were fields of their own.
    older = {"steps_per_epoch": 2, "d_loss": [1.0, 3.0], "g_loss": [4.0, 6.0]}
    older |= {"cycle_a": [0.5, 1.5], "epoch_d_loss": [2.0], "epoch_g_loss": [5.0]}
    history = AdversarialHistory.from_saved(older)
    assert history.terms == {"cycle_a": [0.5, 1.5]} and history.epoch_means("cycle_a") == [1.0]
    with pytest.raises(ValueError, match="'stage'.*--overwrite"):
        AdversarialHistory.from_saved({**older, "stage": "final"})


def test_minibatches_serve_a_new_order_each_epoch_and_leave_out_the_remainder():
    data = ResidentData((torch.arange(10), torch.arange(10) + 100))
    stream = minibatches(data, torch.Generator().manual_seed(0), batch_size=3, per_epoch=2)
    epochs = [[next(stream) for _ in range(2)] for _ in range(3)]
    for epoch in epochs:
        rows = torch.cat([first for first, _ in epoch])
        assert len(rows.unique()) == 6  # two full minibatches of 3, no repeats
        assert all(torch.equal(second, first + 100) for first, second in epoch)  # rows aligned
    assert not torch.equal(torch.cat(epochs[0][0]), torch.cat(epochs[1][0]))  # reshuffled
