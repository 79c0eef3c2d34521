"""Train notebook 09's StarGAN for longer than the book profile allows, and store what it shows.

    python scripts/long_run_stargan.py --generator paper --epochs 80
    python scripts/long_run_stargan.py --generator residual --epochs 80

Same data, judge, held-out targets, networks, optimisers and seed as the notebook's cpu profile;
only the number of epochs differs. Each run writes, next to the notebook,
``notebooks/figures/09_stargan_long_<generator>.png`` (the notebook's translation grid after
the longer run) and ``.json`` (epochs, generator steps, seconds, machine, the identity scores
per face and their means with 95 % bootstrap intervals, and the per-epoch measurements).
Notebook 09 shows both files; an existing pair is replaced only with ``--overwrite``.

With ``--export`` the trained generator is also exported for the book's live demos
(``course_lib.export.browser``) as ``notebooks/exported/book/stargan_<generator>_long.onnx``, with
its record (the run, the identity scores above) and eight held-out faces to start from.
"""

from __future__ import annotations

import argparse
import sys

import torch

from course_lib.authoring.long_runs import interval_fields, result_paths, save_long_run
from course_lib.data.face_domains import two_label_sets
from course_lib.data.faces import sample_nuisance
from course_lib.evaluation.attribute_judge import RECIPES, load_attribute_judge
from course_lib.evaluation.monitors import attribute_monitor
from course_lib.evaluation.translation_checks import (
    counterfactual_faces,
    held_out_targets,
    identity_scores,
    identity_summary,
)
from course_lib.export.browser import EXPORT_ROOT, describe_export, export_for_browser
from course_lib.export.demo_records import attribute_edit_fields, identity_measured
from course_lib.models.stargan import StarGANDiscriminator, StarGANGenerator
from course_lib.objectives.stargan import StarGAN
from course_lib.runtime.config import REPO_ROOT, one_cpu_thread, seed_everything, settings_for
from course_lib.training.translation import train_stargan
from course_lib.viz.translation_grids import translation_grid

SEED = 0  # the notebook's
GRID_ROWS = 5  # the notebook's grid shows the first five held-out faces
DEMO_FOLDER = REPO_ROOT / "notebooks" / EXPORT_ROOT / "book"  # what the book publishes
DEMO_EXAMPLES = 8  # held-out faces the demo starts from


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", choices=("paper", "residual"), required=True)
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument(
        "--export", action="store_true", help="also export the generator for the live demos"
    )
    options = parser.parse_args(argv)
    if options.epochs < 1:
        parser.error(f"--epochs must be positive, got {options.epochs}.")
    try:
        png, record = result_paths(f"09_stargan_long_{options.generator}", options.overwrite)
    except FileExistsError as error:
        parser.error(str(error))

    settings = settings_for("09_cyclegan_stargan", "cpu")
    seed_everything(SEED)
    faces = two_label_sets(settings.faces_train, size=32, seed=SEED)
    test_faces = two_label_sets(settings.faces_test, size=32, seed=SEED + 1)
    judge = load_attribute_judge(size=32, recipe=RECIPES[settings.attribute_recipe])
    targets = held_out_targets(test_faces, seed=SEED + 2)
    torch.manual_seed(SEED)
    residual = options.generator == "residual"
    objective = StarGAN(
        StarGANGenerator(3, 13, settings.star_width, 2, settings.star_blocks, residual=residual),
        StarGANDiscriminator(32, 3, 11, settings.star_width),
    )
    history = train_stargan(
        objective,
        faces.images * 2 - 1,
        faces.condition,
        epochs=options.epochs,
        batch_size=16,
        d_steps=settings.star_d_steps,
        g_optimizer=torch.optim.Adam(objective.generator.parameters(), 1e-4, betas=(0.5, 0.999)),
        d_optimizer=torch.optim.Adam(
            objective.discriminator.parameters(), 1e-4, betas=(0.5, 0.999)
        ),
        seed=SEED,
        epoch_metrics=attribute_monitor(judge, test_faces, targets, "cpu"),
        desc=f"StarGAN, {options.generator} G, {options.epochs} epochs",
    )
    objective.eval()
    with torch.no_grad():
        translated = objective.translate(test_faces.images * 2 - 1, targets)
    translated = ((translated + 1) / 2).clamp(0, 1)
    truth = counterfactual_faces(test_faces, targets, sample_nuisance(len(test_faces), SEED + 1))
    scores = identity_scores(judge, test_faces, translated, truth, targets)
    summary = identity_summary(scores, seed=SEED)
    steps = len(history.g_loss)
    data = (
        f"cartoon faces, 32 px: {settings.faces_train:,} train (seed {SEED}) / "
        f"{settings.faces_test:,} held out (seed {SEED + 1})"
    )
    figure = translation_grid(
        objective,
        test_faces.images[:GRID_ROWS],
        {name: labels[:GRID_ROWS] for name, labels in test_faces.attributes.items()},
        f"StarGAN, {options.generator} generator, {steps:,} steps ({options.epochs} epochs, "
        f"{history.seconds / 60:.0f} min on a CPU): the notebook's faces and targets",
    )
    save_long_run(
        figure,
        {
            "generator": options.generator,
            "epochs": options.epochs,
            "generator_steps": steps,
            "critic_steps_per_generator_step": settings.star_d_steps,
            "seconds": round(history.seconds),
            "data": data,
            "identity": {name: interval_fields(interval) for name, interval in summary.items()},
            # per held-out face, in order, so that a notebook can pair two runs' scores
            "identity_per_face": {name: values.tolist() for name, values in scores.items()},
            "per_epoch": history.metrics,
        },
        png,
        record,
    )
    if options.export:
        exported = export_for_browser(
            objective.generator,
            {"face": test_faces.images[:4] * 2 - 1, "condition": targets[:4]},
            f"stargan_{options.generator}_long",
            DEMO_FOLDER,
            record={
                "demo": "attribute-edit",
                "notebook": "09_cyclegan_stargan",
                "profile": "cpu",
                # not a notebook's run: the longer run that notebook 09 shows, at its cpu sizes
                "trained_by": "scripts/long_run_stargan.py (notebook 09's longer run)",
                "trained": {
                    "data": data,
                    "epochs": options.epochs,
                    "steps": steps,
                    "seed": SEED,
                    "model": f"StarGAN generator ({options.generator})",
                },
                **attribute_edit_fields(test_faces, DEMO_EXAMPLES),
                "measured": identity_measured(summary),
            },
            output_range=(-1.0, 1.0),
            examples=test_faces.images[:DEMO_EXAMPLES],
        )
        print(describe_export(exported))
    return 0


if __name__ == "__main__":
    with one_cpu_thread():
        sys.exit(main())
