"""Train a course model to a checkpoint from the command line, on one process or under torchrun.

    python -m course_lib.recipes autoencoder --profile cpu
    python -m course_lib.recipes rbm --profile cpu --epochs 5
    python -m course_lib.recipes dcgan --profile gpu --out checkpoints/dcgan-gpu.pt
    torchrun --nproc_per_node 4 -m course_lib.recipes wgan-gp --profile gpu

Each recipe builds the model a notebook builds, seeded the same way, from the same profile
settings, and trains it with the same loop (``training.fit``, ``training.rbm.train_rbm``,
``training.adversarial.train_gan`` or a loop of ``training.translation``). A checkpoint made
with ``--profile cpu`` is therefore the model notebook 01 (say) trains in the cpu profile, and
the notebook can load it instead of training (``checkpoints.load_or_train``).
Under torchrun each process trains on its part of every global minibatch (``distributed.Shard``)
and only rank 0 writes the checkpoint and its ``.sha256`` file.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from course_lib.data.corruption import add_gaussian_noise
from course_lib.data.face_domains import random_target_conditions, two_label_sets
from course_lib.data.mnist import MNISTData, binarized_mnist, load_mnist
from course_lib.data.mnist_m import digit_domains
from course_lib.data.paired import edges_to_faces
from course_lib.evaluation.ais import base_rate_bias
from course_lib.evaluation.attribute_judge import RECIPES as ATTRIBUTE_RECIPES
from course_lib.evaluation.attribute_judge import load_attribute_judge
from course_lib.evaluation.digit_judge import DIGIT_RECIPES, load_digit_judge
from course_lib.evaluation.monitors import (
    attribute_monitor,
    digit_class_monitor,
    frechet_and_critic_monitor,
)
from course_lib.losses.vae import gaussian_kl, reconstruction_bce, vae_loss
from course_lib.models.autoencoder import ConvAutoencoder
from course_lib.models.blocks import resnet_translator
from course_lib.models.conditional import (
    ConditionalDCGANDiscriminator,
    ConditionalDCGANGenerator,
)
from course_lib.models.critic import DCGANCritic
from course_lib.models.gan import (
    BiGANEncoder,
    DCGANDiscriminator,
    DCGANGenerator,
    JointDiscriminator,
    MLPDiscriminator,
    MLPGenerator,
)
from course_lib.models.pix2pix import PatchDiscriminator, UNetGenerator
from course_lib.models.rbm import BernoulliRBM
from course_lib.models.stargan import StarGANDiscriminator, StarGANGenerator
from course_lib.models.vae import MLPVAE
from course_lib.objectives.conditional_gan import ConditionalGAN
from course_lib.objectives.cyclegan import CycleGAN
from course_lib.objectives.gan import BiGAN, StandardGAN
from course_lib.objectives.pix2pix import Pix2Pix
from course_lib.objectives.stargan import StarGAN
from course_lib.objectives.wgan import WGANGP
from course_lib.runtime.checkpoints import save_checkpoint, write_checksum
from course_lib.runtime.config import (
    CHECKPOINT_DIR_ENV,
    PROFILES,
    REPO_ROOT,
    Settings,
    seed_everything,
    settings_for,
)
from course_lib.runtime.distributed import Shard, process_device, shard_from_environment
from course_lib.training.adversarial import train_gan
from course_lib.training.fit import fit
from course_lib.training.game import AdversarialHistory
from course_lib.training.rbm import train_rbm
from course_lib.training.translation import train_cyclegan, train_pix2pix, train_stargan

SEED = 0  # the notebooks' seed
CHECKPOINT_DIR = REPO_ROOT / "checkpoints"


@dataclass(frozen=True)
class RunOptions:
    """What the command line may change; ``None`` keeps the profile's value."""

    profile: str
    epochs: int | None = None
    batch_size: int | None = None
    train_images: int | None = None
    seed: int = SEED


@dataclass(frozen=True)
class Recipe:
    """One trainable model: the notebook whose settings it uses, how to build it and how to train
    it."""

    notebook: str
    description: str
    build: Callable[[Settings], nn.Module]
    train: Callable[[nn.Module, Settings, RunOptions, Shard, torch.device], dict[str, Any]]


def _pick(value: int | None, default: int) -> int:
    return default if value is None else value


# ---- autoencoder family (training.fit) --------------------------------------------------------


def autoencoder_mse(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(model(x), x)


def bernoulli_vae_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    logits, mu, logvar = model(x)
    return vae_loss(reconstruction_bce(logits, x), gaussian_kl(mu, logvar))["total"]


def _train_autoencoder(model, settings, options, shard, device):
    mnist = load_mnist(
        _pick(options.train_images, settings.train_images), settings.test_images, seed=SEED
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    return fit(
        model,
        autoencoder_mse,
        mnist.train_images,
        optimizer=optimizer,
        epochs=_pick(options.epochs, settings.epochs),
        batch_size=_pick(options.batch_size, settings.batch_size),
        seed=options.seed,
        device=device,
        test_data=mnist.test_images,
        shard=shard,
        desc=f"autoencoder d={settings.main_code_size}, MSE",
    )


def _train_dae(model, settings, options, shard, device):
    mnist = load_mnist(
        _pick(options.train_images, settings.train_images), settings.test_images, seed=SEED
    )

    def denoising_loss(model, x):
        noisy = add_gaussian_noise(x, settings.train_noise)
        return F.mse_loss(model(noisy), x)  # the target is the clean image

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    return fit(
        model,
        denoising_loss,
        mnist.train_images,
        optimizer=optimizer,
        epochs=_pick(options.epochs, settings.epochs),
        batch_size=_pick(options.batch_size, settings.batch_size),
        seed=options.seed,
        device=device,
        shard=shard,
        desc=f"DAE d={settings.code_size}",
    )


def _train_vae(model, settings, options, shard, device):
    mnist = binarized_mnist(
        _pick(options.train_images, settings.mnist_train), settings.mnist_test, seed=SEED
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    return fit(
        model,
        bernoulli_vae_loss,
        mnist.train_images,
        optimizer=optimizer,
        epochs=_pick(options.epochs, settings.mnist_epochs),
        batch_size=_pick(options.batch_size, settings.batch_size),
        seed=options.seed,
        device=device,
        test_data=mnist.test_images,
        shard=shard,
        desc="MLP VAE",
    )


# ---- RBM (training.rbm.train_rbm, CD-k) -------------------------------------------------------


def _train_rbm(model, settings, options, shard, device):
    data = binarized_mnist(
        _pick(options.train_images, settings.mnist_train), settings.mnist_test, seed=SEED
    )
    train_x = data.train_images.flatten(1).to(device)  # (N, 1, 28, 28) -> (N, 784)
    with torch.no_grad():
        # Start from the pixels' log-odds, as notebook 04 does.
        model.visible_bias.copy_(base_rate_bias(train_x))
    history = train_rbm(
        model,
        train_x,
        epochs=_pick(options.epochs, settings.rbm_epochs),
        batch_size=_pick(options.batch_size, settings.batch_size),
        learning_rate=settings.learning_rate,
        k=1,
        momentum=0.5,
        decay_to_zero=True,
        seed=options.seed,
        shard=shard,
        desc="RBM, CD-1",
    )
    return asdict(history)


# ---- GANs (training.adversarial.train_gan) ----------------------------------------------------


def _adversarial_history(history: AdversarialHistory) -> dict[str, Any]:
    """The history as plain lists and numbers (snapshots left out), loadable with
    weights_only=True; ``AdversarialHistory.from_saved`` rebuilds it."""
    return {key: value for key, value in asdict(history).items() if key != "snapshots"}


def _train_adversarial(
    model,
    settings,
    options,
    shard,
    device,
    *,
    epochs,
    batch_size,
    d_steps,
    lr,
    betas,
    labels=False,
    monitor=None,
    desc,
):
    mnist = load_mnist(
        _pick(options.train_images, settings.mnist_train), settings.mnist_test, seed=SEED
    )
    images = mnist.train_images * 2 - 1  # [0, 1] -> [-1, 1], the range of tanh
    data = (images, mnist.train_labels) if labels else images
    history = train_gan(
        model,
        data,
        epochs=_pick(options.epochs, epochs),
        batch_size=_pick(options.batch_size, batch_size),
        latent_dim=settings.latent_dim,
        d_steps=d_steps,
        d_optimizer=torch.optim.Adam(model.discriminator_parameters(), lr=lr, betas=betas),
        g_optimizer=torch.optim.Adam(model.generator_parameters(), lr=lr, betas=betas),
        seed=options.seed,
        device=device,
        shard=shard,
        desc=desc,
        epoch_metrics=monitor(mnist, device)
        if monitor is not None and shard.is_main
        else None,  # rank 0 measures
    )
    return _adversarial_history(history)


def _wgan_monitor(settings: Settings, mnist: MNISTData, device: torch.device) -> Callable:
    """Notebook 07's per-epoch measurements (Frechet distance, critic's estimate), so a loaded
    checkpoint brings the notebook's curves with it."""
    judge = load_digit_judge(device=device, recipe=DIGIT_RECIPES[settings.judge_recipe])
    return frechet_and_critic_monitor(
        judge, mnist.test_images[: settings.fd_samples], settings.latent_dim, device
    )


def _train_gan(model, settings, options, shard, device):
    return _train_adversarial(
        model,
        settings,
        options,
        shard,
        device,
        epochs=settings.mnist_epochs,
        batch_size=64,
        d_steps=1,
        lr=2e-4,
        betas=(0.5, 0.999),
        desc="MLP GAN",
    )


def _train_dcgan(model, settings, options, shard, device):
    # Notebook 06 trains its MNIST DCGAN for a fixed time; here the time becomes whole epochs.
    return _train_adversarial(
        model,
        settings,
        options,
        shard,
        device,
        epochs=10,
        batch_size=64,
        d_steps=1,
        lr=2e-4,
        betas=(0.5, 0.999),
        desc="DCGAN",
    )


def _train_bigan(model, settings, options, shard, device):
    return _train_adversarial(
        model,
        settings,
        options,
        shard,
        device,
        epochs=settings.bigan_epochs,
        batch_size=64,
        d_steps=1,
        lr=2e-4,
        betas=(0.5, 0.999),
        desc="BiGAN",
    )


def _train_wgan_gp(model, settings, options, shard, device):
    return _train_adversarial(
        model,
        settings,
        options,
        shard,
        device,
        epochs=settings.mnist_epochs,
        batch_size=64,
        d_steps=5,
        lr=1e-4,
        betas=(0.0, 0.9),
        monitor=functools.partial(_wgan_monitor, settings),
        desc="WGAN-GP",
    )


def _train_cgan(model, settings, options, shard, device):
    return _train_adversarial(
        model,
        settings,
        options,
        shard,
        device,
        epochs=settings.cgan_epochs,
        batch_size=64,
        d_steps=1,
        lr=2e-4,
        betas=(0.5, 0.999),
        labels=True,
        desc="conditional DCGAN",
    )


# ---- image-to-image translation (training.translation) ----------------------------------------


def _adam(parameters, lr: float) -> torch.optim.Adam:
    return torch.optim.Adam(parameters, lr=lr, betas=(0.5, 0.999))


def _train_pix2pix(model, settings, options, shard, device):
    edges, faces = edges_to_faces(
        _pick(options.train_images, settings.pairs_train), size=32, seed=SEED
    )
    history = train_pix2pix(
        model,
        edges * 2 - 1,
        faces * 2 - 1,
        epochs=_pick(options.epochs, settings.p2p_epochs),
        batch_size=_pick(options.batch_size, 32),
        g_optimizer=_adam(model.generator.parameters(), 2e-4),
        d_optimizer=_adam(model.discriminator.parameters(), 2e-4),
        seed=options.seed,
        device=device,
        shard=shard,
        desc="pix2pix, GAN + 100 L1",
    )
    return _adversarial_history(history)


def _train_cyclegan(model, settings, options, shard, device):
    mnist = load_mnist(
        _pick(options.train_images, settings.mnist_train), settings.mnist_test, seed=SEED
    )
    domains = digit_domains(mnist.train_images, mnist.train_labels, seed=SEED)
    monitor = None
    if shard.is_main:  # notebook 09's measurements, so that a loaded checkpoint brings its curves
        judge = load_digit_judge(device=device, recipe=DIGIT_RECIPES[settings.judge_recipe])
        held_out = digit_domains(mnist.test_images, mnist.test_labels, seed=SEED + 1)
        monitor = digit_class_monitor(judge, held_out, device)
    history = train_cyclegan(
        model,
        domains.mnist * 2 - 1,
        domains.mnist_m * 2 - 1,
        epochs=_pick(options.epochs, settings.cycle_epochs),
        batch_size=_pick(options.batch_size, 32),
        g_optimizer=_adam(model.generator_parameters(), 2e-4),
        d_optimizer=_adam(model.discriminator_parameters(), 2e-4),
        seed=options.seed,
        device=device,
        shard=shard,
        epoch_metrics=monitor,
        desc="CycleGAN, lambda = 10",
    )
    return _adversarial_history(history)


def _train_stargan(model, settings, options, shard, device):
    faces = two_label_sets(_pick(options.train_images, settings.faces_train), size=32, seed=SEED)
    monitor = None
    if shard.is_main:  # notebook 09's measurements
        judge = load_attribute_judge(
            size=32, device=device, recipe=ATTRIBUTE_RECIPES[settings.attribute_recipe]
        )
        test_faces = two_label_sets(settings.faces_test, size=32, seed=SEED + 1)
        targets = random_target_conditions(
            test_faces.dataset, torch.Generator().manual_seed(SEED + 2)
        )
        monitor = attribute_monitor(judge, test_faces, targets, device)
    history = train_stargan(
        model,
        faces.images * 2 - 1,
        faces.condition,
        epochs=_pick(options.epochs, settings.star_epochs),
        batch_size=_pick(options.batch_size, 16),
        d_steps=settings.star_d_steps,
        g_optimizer=_adam(model.generator.parameters(), 1e-4),
        d_optimizer=_adam(model.discriminator.parameters(), 1e-4),
        seed=options.seed,
        device=device,
        shard=shard,
        epoch_metrics=monitor,
        desc="StarGAN",
    )
    return _adversarial_history(history)


RECIPES: dict[str, Recipe] = {
    "autoencoder": Recipe(
        "01_autoencoder",
        "convolutional autoencoder, MSE, MNIST (notebook 01)",
        lambda s: ConvAutoencoder(s.main_code_size),
        _train_autoencoder,
    ),
    "dae": Recipe(
        "02_denoising_autoencoder",
        "denoising autoencoder, Gaussian noise, clean target, MNIST (notebook 02)",
        lambda s: ConvAutoencoder(s.code_size),
        _train_dae,
    ),
    "vae": Recipe(
        "03_variational_autoencoder",
        "MLP VAE, Bernoulli decoder, binarized MNIST (notebook 03)",
        lambda s: MLPVAE(latent_dim=s.latent_mnist),
        _train_vae,
    ),
    "rbm": Recipe(
        "04_rbm_and_dbn",
        "Bernoulli RBM trained by CD-1, binarized MNIST (notebook 04)",
        lambda s: BernoulliRBM(784, s.rbm_hidden),
        _train_rbm,
    ),
    "gan": Recipe(
        "05_gan",
        "MLP GAN, MNIST (notebook 05)",
        lambda s: StandardGAN(MLPGenerator(s.latent_dim), MLPDiscriminator()),
        _train_gan,
    ),
    "dcgan": Recipe(
        "06_dcgan_bigan",
        "DCGAN, MNIST (notebook 06)",
        lambda s: StandardGAN(
            DCGANGenerator(s.latent_dim, 28, 1, s.dcgan_width),
            DCGANDiscriminator(28, 1, s.dcgan_width),
        ),
        _train_dcgan,
    ),
    "bigan": Recipe(
        "06_dcgan_bigan",
        "BiGAN with an MLP generator and encoder, MNIST (notebook 06)",
        lambda s: BiGAN(
            MLPGenerator(s.latent_dim),
            BiGANEncoder(latent_dim=s.latent_dim),
            JointDiscriminator(latent_dim=s.latent_dim),
        ),
        _train_bigan,
    ),
    "wgan-gp": Recipe(
        "07_wgan",
        "WGAN-GP with a LayerNorm critic, MNIST (notebook 07)",
        lambda s: WGANGP(
            DCGANGenerator(s.latent_dim, 28, 1, s.width),
            DCGANCritic(28, 1, s.width),
            penalty_weight=10.0,
        ),
        _train_wgan_gp,
    ),
    "cgan": Recipe(
        "08_conditional_gan",
        "class-conditional DCGAN, MNIST (notebook 08)",
        lambda s: ConditionalGAN(
            ConditionalDCGANGenerator(s.latent_dim, 10, 28, 1, s.width),
            ConditionalDCGANDiscriminator(10, 28, 1, s.width),
        ),
        _train_cgan,
    ),
    "pix2pix": Recipe(
        "08_conditional_gan",
        "pix2pix, GAN + 100 L1, edges to cartoon faces (notebook 08)",
        lambda s: Pix2Pix(
            UNetGenerator(1, 3, 32, s.p2p_width),
            PatchDiscriminator(4, s.p2p_width, s.patch_layers),
            l1_weight=100.0,
            adversarial_weight=1.0,
        ),
        _train_pix2pix,
    ),
    "cyclegan": Recipe(
        "09_cyclegan_stargan",
        "CycleGAN, lambda = 10, MNIST <-> MNIST-M style digits (notebook 09)",
        lambda s: CycleGAN(
            resnet_translator(1, 3, s.cycle_width, 2, s.cycle_blocks),
            resnet_translator(3, 1, s.cycle_width, 2, s.cycle_blocks),
            PatchDiscriminator(1, s.cycle_width, 2, norm="instance"),
            PatchDiscriminator(3, s.cycle_width, 2, norm="instance"),
            cycle_weight=10.0,
            identity_weight=0.0,
        ),
        _train_cyclegan,
    ),
    "stargan": Recipe(
        "09_cyclegan_stargan",
        "StarGAN on cartoon faces with two label sets (notebook 09)",
        lambda s: StarGAN(
            StarGANGenerator(3, 13, s.star_width, 2, s.star_blocks),
            StarGANDiscriminator(32, 3, 11, s.star_width),
        ),
        _train_stargan,
    ),
}


def default_checkpoint(recipe: str, profile: str) -> Path:
    """Where a recipe's checkpoint goes by default: ``checkpoints/<recipe>-<profile>.pt``."""
    return CHECKPOINT_DIR / f"{recipe}-{profile}.pt"


def notebook_checkpoint(recipe: str, profile: str) -> Path | None:
    """The checkpoint a notebook should load, or None to train.

    Loading is opt-in: only with ``$COURSE_CHECKPOINT_DIR`` set (for example to ``checkpoints``
    after ``make checkpoints``) does a notebook look for ``<dir>/<recipe>-<profile>.pt``.
    """
    configured = os.environ.get(CHECKPOINT_DIR_ENV, "").strip()
    if not configured:
        return None
    folder = Path(configured).expanduser()
    if not folder.is_absolute():
        folder = REPO_ROOT / folder
    if not folder.is_dir():
        raise FileNotFoundError(
            f"${CHECKPOINT_DIR_ENV} points to {folder}, which is not a directory. "
            f"Fix the path, or unset {CHECKPOINT_DIR_ENV} to train in the notebook."
        )
    return folder / f"{recipe}-{profile}.pt"


def build_model(recipe: str, profile: str, seed: int = SEED) -> nn.Module:
    """The recipe's untrained model, with the initial weights its notebook starts from."""
    seed_everything(seed)  # the notebooks seed right before building
    return RECIPES[recipe].build(settings_for(RECIPES[recipe].notebook, profile))


def run(recipe: str, options: RunOptions, out: Path, shard: Shard | None = None) -> Path | None:
    """Train ``recipe`` and write its checkpoint to ``out`` (rank 0 only); return the path
    written."""
    shard = shard or Shard()
    device = process_device(shard)
    settings = settings_for(RECIPES[recipe].notebook, options.profile)
    model = build_model(recipe, options.profile, options.seed).to(device)
    history = RECIPES[recipe].train(model, settings, options, shard, device)
    if not shard.is_main:
        return None
    save_checkpoint(
        out,
        model.cpu(),
        recipe=recipe,
        profile=options.profile,
        options=asdict(options),
        world_size=shard.world_size,
        history=history,
    )
    digest = write_checksum(out)
    print(f"wrote {out} (sha256 {digest}), trained by {shard.world_size} process(es) on {device}")
    return out


def parse_arguments(argv: list[str] | None = None) -> tuple[str, RunOptions, Path, bool]:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.recipes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("recipe", choices=sorted(RECIPES), help="which model to train")
    parser.add_argument(
        "--profile", default="cpu", choices=PROFILES, help="whose sizes to use (default cpu)"
    )
    parser.add_argument("--epochs", type=int, help="override the profile's number of epochs")
    parser.add_argument("--batch-size", type=int, help="override the global batch size")
    parser.add_argument("--train-images", type=int, help="override the number of training images")
    parser.add_argument(
        "--seed", type=int, default=SEED, help=f"seed for weights and batches (default {SEED})"
    )
    parser.add_argument(
        "--out", type=Path, help="checkpoint path (default checkpoints/<recipe>-<profile>.pt)"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing checkpoint of the same model"
    )
    args = parser.parse_args(argv)
    options = RunOptions(args.profile, args.epochs, args.batch_size, args.train_images, args.seed)
    return (
        args.recipe,
        options,
        args.out or default_checkpoint(args.recipe, args.profile),
        args.overwrite,
    )


def main(argv: list[str] | None = None) -> int:
    recipe, options, out, overwrite = parse_arguments(argv)
    if out.exists() and not overwrite:
        print(
            f"error: {out} already exists; pass --overwrite to replace it or --out to write "
            "elsewhere.",
            file=sys.stderr,
        )
        return 2
    shard = shard_from_environment()
    try:
        run(recipe, options, out, shard)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
