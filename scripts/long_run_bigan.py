"""Train notebook 06's BiGAN for longer than the book profile allows, and store what it shows.

    python scripts/long_run_bigan.py --epochs 200

Same data (the book profile's standard split), networks, optimisers, seed and measurements as
the notebook; only the number of epochs differs. Writes, next to the notebook,
``notebooks/figures/06_bigan_long.png`` (held-out digits and their reconstructions G(E(x)))
and ``.json`` (epochs, seconds, machine, the share of reconstructions the digit judge reads as
the input's digit, and the probes' accuracies for the BiGAN encoder, the untrained encoder and raw
pixels, each with a 95 % bootstrap interval). Notebook 06 shows both; an existing pair is
replaced only with ``--overwrite``.
"""

from __future__ import annotations

import argparse
import sys

import torch

from course_lib.authoring.long_runs import interval_fields, result_paths, save_long_run
from course_lib.data.mnist import load_mnist
from course_lib.evaluation.digit_judge import DIGIT_RECIPES, load_digit_judge
from course_lib.evaluation.intervals import bootstrap_mean
from course_lib.evaluation.probes import PROBES, probe_correct
from course_lib.models.gan import BiGANEncoder, JointDiscriminator, MLPGenerator
from course_lib.objectives.gan import BiGAN
from course_lib.runtime.config import one_cpu_thread, seed_everything, settings_for
from course_lib.training.adversarial import train_gan
from course_lib.viz.figures import show_image_rows

SEED = 0  # the notebook's
SHOWN = 12  # the notebook shows twelve held-out digits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--overwrite", action="store_true")
    options = parser.parse_args(argv)
    if options.epochs < 1:
        parser.error(f"--epochs must be positive, got {options.epochs}.")
    try:
        png, record = result_paths("06_bigan_long", options.overwrite)
    except FileExistsError as error:
        parser.error(str(error))

    settings = settings_for("06_dcgan_bigan", "book")
    seed_everything(SEED)
    mnist = load_mnist(settings.mnist_train, settings.mnist_test, seed=SEED)
    judge = load_digit_judge(recipe=DIGIT_RECIPES[settings.judge_recipe])
    train_images = mnist.train_images * 2 - 1
    latent = settings.latent_dim
    torch.manual_seed(SEED)
    bigan = BiGAN(
        MLPGenerator(latent),
        BiGANEncoder(latent_dim=latent),
        JointDiscriminator(latent_dim=latent),
    )
    untrained_encoder = BiGANEncoder(latent_dim=latent)
    untrained_encoder.load_state_dict(bigan.encoder.state_dict())
    history = train_gan(
        bigan,
        train_images,
        epochs=options.epochs,
        batch_size=64,
        latent_dim=latent,
        d_optimizer=torch.optim.Adam(bigan.discriminator_parameters(), 2e-4, betas=(0.5, 0.999)),
        g_optimizer=torch.optim.Adam(bigan.generator_parameters(), 2e-4, betas=(0.5, 0.999)),
        seed=SEED,
        desc=f"BiGAN, {options.epochs} epochs",
    )
    bigan.eval()
    test_images = mnist.test_images * 2 - 1
    with torch.no_grad():
        reconstructions = ((bigan.reconstruct(test_images) + 1) / 2).clamp(0, 1)
        encoders = {"BiGAN encoder E(x)": bigan.encoder, "untrained encoder": untrained_encoder}
        probe_x = train_images[: settings.probe_train]
        features = {
            name: (encoder(probe_x).numpy(), encoder(test_images).numpy())
            for name, encoder in encoders.items()
        }
    features["raw pixels"] = (probe_x.flatten(1).numpy(), test_images.flatten(1).numpy())
    kept = (
        judge.predict(reconstructions[: settings.fd_samples])
        == mnist.test_labels[: settings.fd_samples]
    ).float()
    probe_y = mnist.train_labels[: settings.probe_train].numpy()
    probes = {
        name: {
            probe: interval_fields(bootstrap_mean(correct))
            for probe, correct in probe_correct(
                train_f, probe_y, test_f, mnist.test_labels.numpy()
            ).items()
        }
        for name, (train_f, test_f) in features.items()
    }
    figure = show_image_rows(
        {"held-out x": mnist.test_images[:SHOWN], "G(E(x))": reconstructions[:SHOWN]}
    )
    figure.suptitle(
        f"BiGAN after {options.epochs} epochs ({history.seconds / 60:.0f} min on a CPU)",
        fontsize=9,
        y=1.04,
    )
    save_long_run(
        figure,
        {
            "epochs": options.epochs,
            "seconds": round(history.seconds),
            "data": mnist.short_source,
            "digit_kept": interval_fields(bootstrap_mean(kept)),
            "digit_kept_images": len(kept),
            "probe_train_images": settings.probe_train,
            "probe_test_images": len(mnist.test_labels),
            "probes": probes,
            "probe_names": list(PROBES),
        },
        png,
        record,
    )
    return 0


if __name__ == "__main__":
    with one_cpu_thread():
        sys.exit(main())
