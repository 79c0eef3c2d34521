"""Train a course model to a checkpoint from the command line, on one process or under torchrun.

    python -m course_lib.recipes autoencoder --profile cpu
    python -m course_lib.recipes rbm --profile cpu --epochs 5
    python -m course_lib.recipes dcgan --profile gpu --out checkpoints/dcgan-gpu.pt
    python -m course_lib.recipes dcgan --profile gpu --out checkpoints/dcgan-gpu.pt --resume
    torchrun --nproc_per_node 4 -m course_lib.recipes wgan-gp --profile gpu

Each recipe builds the model a notebook builds, seeded the same way, from the same profile
settings, and trains it with the same loop (``training.fit``, ``training.rbm.train_rbm``,
``training.adversarial.train_gan`` or a loop of ``training.translation``). A checkpoint made
with ``--profile cpu`` is therefore the model notebook 01 (say) trains in the cpu profile, and
the notebook can load it instead of training (``checkpoints.load_or_train``).

Every argument is checked before training (``check_destination``, ``RunOptions``, the data
found), the run's whole state is saved to the checkpoint after every epoch, and ``--resume``
continues an interrupted run exactly (``training.resume``). Under torchrun each process trains
on its part of every global minibatch (``distributed.Shard``) and only rank 0 writes.
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
from course_lib.data.face_domains import two_label_sets
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
from course_lib.evaluation.translation_checks import held_out_targets
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
from course_lib.runtime.checkpoints import (
    Checkpointing,
    differences,
    partial_path,
    read_checkpoint,
    recorded_run,
)
from course_lib.runtime.checksums import checksum_path, sha256_of
from course_lib.runtime.config import (
    DEVICE_ENV,
    PROFILE_ENV,
    PROFILES,
    REPO_ROOT,
    Settings,
    active_profile,
    check_device,
    check_profile,
    pick_device,
    seed_everything,
    settings_for,
)
from course_lib.runtime.distributed import (
    Shard,
    process_device,
    shard_from_environment,
    wait_for_all,
)
from course_lib.training.adversarial import train_gan
from course_lib.training.fit import fit
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

    def __post_init__(self):
        check_profile(self.profile)
        if isinstance(self.seed, bool) or not 0 <= self.seed < 2**63:
            raise ValueError(f"--seed must be a whole number from 0 to 2**63 - 1, got {self.seed}.")
        for name in ("epochs", "batch_size", "train_images"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 1):
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{flag} must be a positive whole number, got {value}.")


class DataTooSmallError(ValueError):
    """More training examples were asked for than the data found holds."""


@dataclass
class Run:
    """One run of a recipe: what was asked, where it trains, and where it keeps its checkpoint.

    A recipe's ``train`` calls ``mnist`` (or ``uses_data``) for its data, which prints the data
    source and records it, then passes ``checkpoint()`` to its training loop.
    """

    recipe: str
    options: RunOptions
    settings: Settings
    shard: Shard
    device: torch.device
    out: Path | None
    start_over: bool = False
    data: dict[str, Any] | None = None

    def count(self, asked: int | None, default: int) -> int:
        """The command line's value when given, else the recipe's."""
        return default if asked is None else asked

    def mnist(self, train_images: int, test_images: int, binarized: bool = False) -> MNISTData:
        """The recipe's MNIST (``--train-images`` overriding ``train_images``), recorded."""
        load = binarized_mnist if binarized else load_mnist
        try:
            mnist = load(self.count(self.options.train_images, train_images), test_images, SEED)
        except ValueError as error:  # more images asked for than MNIST has
            if self.options.train_images is None:
                raise
            raise DataTooSmallError(
                f"--train-images {self.options.train_images:,}: {error}"
            ) from error
        self.uses_data(mnist.record, mnist.source)
        return mnist

    def uses_data(self, record: dict[str, Any], source: str) -> None:
        """Record the data the run trains on (``record``: kind and image counts, as
        ``MNISTData.record``), after checking it holds what was asked for."""
        asked, found = self.options.train_images, record["train_images"]
        if asked is not None and found < asked:
            raise DataTooSmallError(
                f"--train-images {asked:,} asks for more training images than the data found "
                f"holds ({found:,}): {source}. Ask for at most {found:,}, or make the full data "
                "available (README, 'Data')."
            )
        if self.shard.is_main:
            print(f"data: {source}")
        self.data = dict(record)

    def checkpoint(self) -> Checkpointing | None:
        """Where the training loop saves its state every epoch, with what it must record."""
        if self.out is None:
            return None
        record = {"recipe": self.recipe, "profile": self.options.profile, "data": self.data}
        return Checkpointing(self.out, run=record, start_over=self.start_over)


@dataclass(frozen=True)
class Recipe:
    """One trainable model: the notebook whose settings it uses, how to build it and how to train
    it."""

    notebook: str
    description: str
    build: Callable[[Settings], nn.Module]
    train: Callable[[nn.Module, Run], Any]


# ---- autoencoder family (training.fit) --------------------------------------------------------


def autoencoder_mse(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(model(x), x)


def bernoulli_vae_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    logits, mu, logvar = model(x)
    return vae_loss(reconstruction_bce(logits, x), gaussian_kl(mu, logvar))["total"]


def _train_autoencoder(model, run):
    settings, options = run.settings, run.options
    mnist = run.mnist(settings.train_images, settings.test_images)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    return fit(
        model,
        autoencoder_mse,
        mnist.train_images,
        optimizer=optimizer,
        epochs=run.count(options.epochs, settings.epochs),
        batch_size=run.count(options.batch_size, settings.batch_size),
        seed=options.seed,
        device=run.device,
        test_data=mnist.test_images,
        shard=run.shard,
        checkpoint=run.checkpoint(),
        desc=f"autoencoder d={settings.main_code_size}, MSE",
    )


def _train_dae(model, run):
    settings, options = run.settings, run.options
    mnist = run.mnist(settings.train_images, settings.test_images)

    def denoising_loss(model, x):
        noisy = add_gaussian_noise(x, settings.train_noise)
        return F.mse_loss(model(noisy), x)  # the target is the clean image

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    return fit(
        model,
        denoising_loss,
        mnist.train_images,
        optimizer=optimizer,
        epochs=run.count(options.epochs, settings.epochs),
        batch_size=run.count(options.batch_size, settings.batch_size),
        seed=options.seed,
        device=run.device,
        shard=run.shard,
        checkpoint=run.checkpoint(),
        desc=f"DAE d={settings.code_size}",
    )


def _train_vae(model, run):
    settings, options = run.settings, run.options
    mnist = run.mnist(settings.mnist_train, settings.mnist_test, binarized=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    return fit(
        model,
        bernoulli_vae_loss,
        mnist.train_images,
        optimizer=optimizer,
        epochs=run.count(options.epochs, settings.mnist_epochs),
        batch_size=run.count(options.batch_size, settings.batch_size),
        seed=options.seed,
        device=run.device,
        test_data=mnist.test_images,
        shard=run.shard,
        checkpoint=run.checkpoint(),
        desc="MLP VAE",
    )


# ---- RBM (training.rbm.train_rbm, CD-k) -------------------------------------------------------


def _train_rbm(model, run):
    settings, options = run.settings, run.options
    data = run.mnist(settings.mnist_train, settings.mnist_test, binarized=True)
    train_x = data.train_images.flatten(1).to(run.device)  # (N, 1, 28, 28) -> (N, 784)
    with torch.no_grad():
        # Start from the pixels' log-odds, as notebook 04 does.
        model.visible_bias.copy_(base_rate_bias(train_x))
    history = train_rbm(
        model,
        train_x,
        epochs=run.count(options.epochs, settings.rbm_epochs),
        batch_size=run.count(options.batch_size, settings.batch_size),
        learning_rate=settings.learning_rate,
        k=1,
        momentum=0.5,
        decay_to_zero=True,
        seed=options.seed,
        shard=run.shard,
        checkpoint=run.checkpoint(),
        desc="RBM, CD-1",
    )
    return asdict(history)


# ---- GANs (training.adversarial.train_gan) ----------------------------------------------------


def _train_adversarial(
    model, run, *, epochs, batch_size, d_steps, lr, betas, labels=False, monitor=None, desc
):
    settings, options = run.settings, run.options
    mnist = run.mnist(settings.mnist_train, settings.mnist_test)
    images = mnist.train_images * 2 - 1  # [0, 1] -> [-1, 1], the range of tanh
    data = (images, mnist.train_labels) if labels else images
    history = train_gan(
        model,
        data,
        epochs=run.count(options.epochs, epochs),
        batch_size=run.count(options.batch_size, batch_size),
        latent_dim=settings.latent_dim,
        d_steps=d_steps,
        d_optimizer=torch.optim.Adam(model.discriminator_parameters(), lr=lr, betas=betas),
        g_optimizer=torch.optim.Adam(model.generator_parameters(), lr=lr, betas=betas),
        seed=options.seed,
        device=run.device,
        shard=run.shard,
        checkpoint=run.checkpoint(),
        desc=desc,
        epoch_metrics=monitor(mnist, run.device)
        if monitor is not None and run.shard.is_main
        else None,  # rank 0 measures
    )
    return history.saved(snapshots=False)


def _wgan_monitor(settings: Settings, mnist: MNISTData, device: torch.device) -> Callable:
    """Notebook 07's per-epoch measurements (Frechet distance, critic's estimate), so a loaded
    checkpoint brings the notebook's curves with it."""
    judge = load_digit_judge(device=device, recipe=DIGIT_RECIPES[settings.judge_recipe])
    return frechet_and_critic_monitor(
        judge, mnist.test_images[: settings.fd_samples], settings.latent_dim, device
    )


ADAM_GAN = {"lr": 2e-4, "betas": (0.5, 0.999)}  # Radford et al.'s Adam for DCGAN-style training


def _train_gan(model, run):
    epochs = run.settings.mnist_epochs
    return _train_adversarial(
        model, run, epochs=epochs, batch_size=64, d_steps=1, **ADAM_GAN, desc="MLP GAN"
    )


def _train_dcgan(model, run):
    # Notebook 06 trains its MNIST DCGAN for a fixed time; here the time becomes whole epochs.
    return _train_adversarial(
        model, run, epochs=10, batch_size=64, d_steps=1, **ADAM_GAN, desc="DCGAN"
    )


def _train_bigan(model, run):
    epochs = run.settings.bigan_epochs
    return _train_adversarial(
        model, run, epochs=epochs, batch_size=64, d_steps=1, **ADAM_GAN, desc="BiGAN"
    )


def _train_wgan_gp(model, run):
    return _train_adversarial(
        model,
        run,
        epochs=run.settings.mnist_epochs,
        batch_size=64,
        d_steps=5,
        lr=1e-4,
        betas=(0.0, 0.9),
        monitor=functools.partial(_wgan_monitor, run.settings),
        desc="WGAN-GP",
    )


def _train_cgan(model, run):
    epochs = run.settings.cgan_epochs
    return _train_adversarial(
        model,
        run,
        epochs=epochs,
        batch_size=64,
        d_steps=1,
        **ADAM_GAN,
        labels=True,
        desc="conditional DCGAN",
    )


# ---- image-to-image translation (training.translation) ----------------------------------------


def _adam(parameters, lr: float) -> torch.optim.Adam:
    return torch.optim.Adam(parameters, lr=lr, betas=(0.5, 0.999))


def _train_pix2pix(model, run):
    settings, options = run.settings, run.options
    count = run.count(options.train_images, settings.pairs_train)
    edges, faces = edges_to_faces(count, size=32, seed=SEED)
    source = f"{count:,} edge-map / cartoon-face pairs, drawn (seed {SEED})"
    run.uses_data({"kind": "drawn faces", "train_images": count, "test_images": 0}, source)
    history = train_pix2pix(
        model,
        edges * 2 - 1,
        faces * 2 - 1,
        epochs=run.count(options.epochs, settings.p2p_epochs),
        batch_size=run.count(options.batch_size, 32),
        g_optimizer=_adam(model.generator.parameters(), 2e-4),
        d_optimizer=_adam(model.discriminator.parameters(), 2e-4),
        seed=options.seed,
        device=run.device,
        shard=run.shard,
        checkpoint=run.checkpoint(),
        desc="pix2pix, GAN + 100 L1",
    )
    return history.saved(snapshots=False)


def _train_cyclegan(model, run):
    settings, options, device = run.settings, run.options, run.device
    mnist = run.mnist(settings.mnist_train, settings.mnist_test)
    domains = digit_domains(mnist.train_images, mnist.train_labels, seed=SEED)
    monitor = None
    if run.shard.is_main:  # notebook 09's measurements, so a loaded checkpoint brings its curves
        judge = load_digit_judge(device=device, recipe=DIGIT_RECIPES[settings.judge_recipe])
        held_out = digit_domains(mnist.test_images, mnist.test_labels, seed=SEED + 1)
        monitor = digit_class_monitor(judge, held_out, device)
    history = train_cyclegan(
        model,
        domains.mnist * 2 - 1,
        domains.mnist_m * 2 - 1,
        epochs=run.count(options.epochs, settings.cycle_epochs),
        batch_size=run.count(options.batch_size, 32),
        g_optimizer=_adam(model.generator_parameters(), 2e-4),
        d_optimizer=_adam(model.discriminator_parameters(), 2e-4),
        seed=options.seed,
        device=device,
        shard=run.shard,
        epoch_metrics=monitor,
        checkpoint=run.checkpoint(),
        desc="CycleGAN, lambda = 10",
    )
    return history.saved(snapshots=False)


def _train_stargan(model, run):
    settings, options, device = run.settings, run.options, run.device
    count = run.count(options.train_images, settings.faces_train)
    faces = two_label_sets(count, size=32, seed=SEED)
    # Notebook 09 expects the same record: drawn faces, train and test counts.
    record = {"kind": "drawn faces", "train_images": count, "test_images": settings.faces_test}
    run.uses_data(record, f"{count:,} cartoon faces, drawn (seed {SEED})")
    monitor = None
    if run.shard.is_main:  # notebook 09's measurements
        judge = load_attribute_judge(
            size=32, device=device, recipe=ATTRIBUTE_RECIPES[settings.attribute_recipe]
        )
        test_faces = two_label_sets(settings.faces_test, size=32, seed=SEED + 1)
        targets = held_out_targets(test_faces, seed=SEED + 2)
        monitor = attribute_monitor(judge, test_faces, targets, device)
    history = train_stargan(
        model,
        faces.images * 2 - 1,
        faces.condition,
        epochs=run.count(options.epochs, settings.star_epochs),
        batch_size=run.count(options.batch_size, 16),
        d_steps=settings.star_d_steps,
        g_optimizer=_adam(model.generator.parameters(), 1e-4),
        d_optimizer=_adam(model.discriminator.parameters(), 1e-4),
        seed=options.seed,
        device=device,
        shard=run.shard,
        epoch_metrics=monitor,
        checkpoint=run.checkpoint(),
        desc="StarGAN",
    )
    return history.saved(snapshots=False)


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


def build_model(recipe: str, profile: str, seed: int = SEED) -> nn.Module:
    """The recipe's untrained model, with the initial weights its notebook starts from."""
    seed_everything(seed)  # the notebooks seed right before building
    return RECIPES[recipe].build(settings_for(RECIPES[recipe].notebook, profile))


def run(
    recipe: str,
    options: RunOptions,
    out: Path | None,
    shard: Shard | None = None,
    device: torch.device | None = None,
    start_over: bool = False,
) -> Any:
    """Train ``recipe``, saving its whole state to ``out`` after every epoch (rank 0 only), and
    continue the run already in ``out`` if there is one (unless ``start_over``); return the
    history."""
    shard = shard or Shard()
    device = device if device is not None else process_device(shard)
    settings = settings_for(RECIPES[recipe].notebook, options.profile)
    model = build_model(recipe, options.profile, options.seed).to(device)
    context = Run(recipe, options, settings, shard, device, out, start_over)
    return RECIPES[recipe].train(model, context)


def check_destination(
    out: Path, recipe: str, options: RunOptions, overwrite: bool, resume: bool
) -> bool:
    """Refuse, before any training, an ``out`` that cannot or must not be written; return
    whether there is anything to train (False: ``--resume`` of a run that is already finished).

    Only reads: without ``--overwrite`` or ``--resume`` an existing file is kept; a file that is
    not a course_lib checkpoint is refused even with them, and another recipe's checkpoint
    without ``--overwrite``. ``--overwrite`` replaces the old checkpoint at the first save of the
    new run (``Checkpointing.start_over``), so an interruption before it leaves the old one
    whole. ``--resume`` checks at once what it can
    (profile, seed, epochs); the rest (data, batch size, ...) once the data is loaded.
    """
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; give a file name, e.g. {out / recipe}.pt")
    folder = next(p for p in (out.parent, *out.parent.parents) if p.exists())
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"Cannot write to {folder}; choose another --out.")
    if not out.exists():
        if resume:
            raise FileNotFoundError(f"--resume: there is no run to continue at {out}.")
        if checksum_path(out).exists():
            raise FileExistsError(
                f"{checksum_path(out)} is there without its checkpoint {out.name}: it may belong "
                "to a file you moved. Move or delete it, or choose another --out."
            )
        return True
    if not (overwrite or resume):
        raise FileExistsError(
            f"{out} already exists. Pass --resume to continue it, --overwrite to train again "
            "from scratch, or --out to write elsewhere."
        )
    try:
        state = read_checkpoint(out)
    except ValueError as error:
        raise FileExistsError(
            f"{out} is not a checkpoint this command can replace or continue ({error})."
        ) from None
    saved = recorded_run(state)
    if saved.get("recipe") != recipe:
        if not overwrite:
            raise FileExistsError(
                f"{out} holds a checkpoint of {saved.get('recipe')!r}, not of {recipe!r}, so it "
                "cannot be continued. Pass --overwrite to replace it, or choose another --out."
            )
        print(
            f"note: --overwrite: the {saved.get('recipe')!r} checkpoint {out} is replaced at ",
            end="",
        )
        print(f"the first save of this {recipe!r} run (kept if it stops before)")
    return overwrite or still_to_train(out, state, options)


def still_to_train(out: Path, state: dict[str, Any], options: RunOptions) -> bool:
    """For ``--resume``: whether ``state`` leaves epochs to train; refuses what cannot fit."""
    if "progress" not in state:  # written when a recipe only saved its final weights
        print(f"{out} holds a finished checkpoint of an older course_lib; nothing to continue.")
        return False
    asked = {"profile": options.profile, "seed": options.seed}
    mismatches = differences(recorded_run(state), asked)
    if mismatches:
        raise ValueError(
            f"--resume: {out} holds a run with other settings: " + "; ".join(mismatches) + "."
        )
    done, planned = state["progress"]["epochs_done"], state["progress"]["epochs"]
    if options.epochs is not None and options.epochs < done:
        raise ValueError(
            f"--resume: {out} has already trained {done} epochs, more than the {options.epochs} "
            "asked for; a finished run is not relabelled."
        )
    if done >= planned and options.epochs in (None, done):
        print(f"{out} holds the finished run ({done} of {planned} epochs); nothing to continue.")
        return False
    return True


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.recipes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("recipe", choices=sorted(RECIPES), help="which model to train")
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        help=f"whose sizes to use (default ${PROFILE_ENV}, else gpu with CUDA and cpu without)",
    )
    parser.add_argument(
        "--device", help=f"cpu, cuda, cuda:N or mps (default ${DEVICE_ENV}, else CUDA if present)"
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
        "--overwrite", action="store_true", help="train again over an existing checkpoint"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the interrupted run saved in --out"
    )
    args = parser.parse_args(argv)
    if args.overwrite and args.resume:
        parser.error("--overwrite starts over and --resume continues: pass one of them")
    return args


def chosen(flag: str | None, variable: str) -> tuple[str | None, str]:
    """(value, where it came from): the flag, else the environment variable, else None."""
    if flag:
        return flag, "flag"
    if os.environ.get(variable, "").strip():
        return os.environ[variable].strip(), f"${variable}"
    return None, "default for this machine"


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    shard = shard_from_environment()
    out = None
    try:
        profile, profile_from = chosen(args.profile, PROFILE_ENV)
        options = RunOptions(
            profile or active_profile(), args.epochs, args.batch_size, args.train_images, args.seed
        )
        device, device_from = process_device(shard), "torchrun rank"
        if not shard.distributed:
            name, device_from = chosen(args.device, DEVICE_ENV)
            where = "--device" if device_from == "flag" else device_from
            device = check_device(name, where) if name else pick_device()
        out = args.out or default_checkpoint(args.recipe, options.profile)
        if shard.is_main and partial_path(out).exists():
            print(f"note: removing {partial_path(out)}, left by an interrupted save")
            partial_path(out).unlink()
        # Every process checks (they read the same files), so all stop or all go on.
        to_train = check_destination(out, args.recipe, options, args.overwrite, args.resume)
        wait_for_all(shard)
        if to_train:
            if shard.is_main:
                print(f"{args.recipe}: profile {options.profile} ({profile_from}), ", end="")
                print(f"device {device} ({device_from}), checkpoint {out}")
            run(args.recipe, options, out, shard, device, start_over=args.overwrite)
            if shard.is_main:
                processes = f"{shard.world_size} process(es)"
                print(f"{saved_progress(out)} Trained by {processes} on {device}.")
                print(f"sha256 of {out}: {sha256_of(out)}")
    except (ValueError, FileExistsError, FileNotFoundError, PermissionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted. {saved_progress(out)}", file=sys.stderr)
        return 130
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


def saved_progress(out: Path | None) -> str:
    """What ``out`` holds now, in a sentence with the command that continues it."""
    if out is None or not out.exists():
        return f"Nothing was saved to {out} (no epoch finished)."
    progress = read_checkpoint(out)["progress"]
    done, epochs = progress["epochs_done"], progress["epochs"]
    if done < epochs:
        return f"{out} holds epoch {done} of {epochs}; continue with the same command and --resume."
    return f"{out} holds the finished run ({done} of {epochs} epochs)."


if __name__ == "__main__":
    sys.exit(main())
