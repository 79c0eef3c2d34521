"""The frozen attribute judge: a classifier that scores generated faces, trained once and cached.

Several notebooks ask "does this generated face have the attribute we asked for?" (VAE attribute
edits, latent arithmetic, StarGAN translations). They all use the same judge: an
``AttributeClassifier`` trained on procedural faces by a fixed, seeded recipe. The first call
trains it (about half a minute on two CPU cores) and saves it in ``cache_dir()``; later calls
load that file. The file name carries a digest of the recipe, and the file records the recipe,
so a judge from another recipe or renderer is never mistaken for this one
(``course_lib.evaluation.judging``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from course_lib.data.faces import RENDERER_VERSION, SUPPORTED_SIZES, load_faces
from course_lib.evaluation.judging import CachedJudge, JudgeFile, TrainingRecipe, load_or_train
from course_lib.models.attribute_classifier import (
    AttributeClassifier,
    attribute_accuracy,
    attribute_loss,
)
from course_lib.runtime.config import shown_path
from course_lib.training.fit import fit


@dataclass(frozen=True)
class JudgeRecipe(TrainingRecipe):
    """Everything that determines the judge's weights. Change ``version`` when the code changes."""

    train_size: int = 10_000
    test_size: int = 2_000
    work_size: int = 32  # faces are judged at 32 x 32: an epoch at 64 x 64 took 7x longer
    widths: tuple[int, ...] = (32, 32, 64, 128)
    epochs: int = 5
    fine_tune_epochs: int = 2  # then this many at a tenth of the learning rate, to settle
    # Generated faces are blurrier and noisier than rendered ones: each training face is blended
    # with a blurred copy (random weight) and gets a little noise, so the judge still sees them.
    blur_sigma: float = 1.0  # pixels at work_size
    max_noise: float = 0.05
    batch_size: int = 128
    learning_rate: float = 4e-3
    data_seed: int = 7_001  # load_faces seed; notebooks use small seeds, so their faces differ
    train_seed: int = 0
    renderer: str = RENDERER_VERSION
    version: str = "judge-1"


DEFAULT_RECIPE = JudgeRecipe()
# For smoke runs only: trains in seconds, and its accuracy means little.
QUICK_RECIPE = JudgeRecipe(train_size=1_000, test_size=500, epochs=1, fine_tune_epochs=0)
RECIPES = {"default": DEFAULT_RECIPE, "quick": QUICK_RECIPE}


@dataclass(frozen=True)
class Judge:
    """A frozen attribute classifier for faces of ``size`` x ``size``, with its provenance."""

    model: AttributeClassifier = field(repr=False)
    size: int
    accuracy: dict[str, float]
    source: str
    path: Path

    def predict(self, images: torch.Tensor, batch_size: int = 1_000) -> dict[str, torch.Tensor]:
        """Predicted labels (N,) int64 on the CPU per attribute of images (N, 3, size, size)."""
        return {name: p.argmax(dim=1) for name, p in self.probabilities(images, batch_size).items()}

    @torch.no_grad()
    def probabilities(
        self, images: torch.Tensor, batch_size: int = 1_000
    ) -> dict[str, torch.Tensor]:
        """Class probabilities (N, values) on the CPU per attribute of images (N, 3, size, size)."""
        if images.dim() != 4 or tuple(images.shape[1:]) != (3, self.size, self.size):
            raise ValueError(
                f"This judge expects faces of shape (N, 3, {self.size}, {self.size}), "
                f"got {tuple(images.shape)}. "
                "Load a judge for your image size with load_attribute_judge(size=...)."
            )
        device = next(self.model.parameters()).device
        parts = []
        for batch in images.split(batch_size):
            small = F.interpolate(
                batch.to(device, torch.float32), size=self.model.size, mode="area"
            )
            parts.append(
                {name: F.softmax(logits, dim=1).cpu() for name, logits in self.model(small).items()}
            )
        return {name: torch.cat([part[name] for part in parts]) for name in self.model.attributes}


def load_attribute_judge(
    size: int = 64,
    device: torch.device | str = "cpu",
    retrain: bool = False,
    recipe: JudgeRecipe = DEFAULT_RECIPE,
) -> Judge:
    """The cached judge for faces of ``size``; trained first (and cached) when there is none.

    ``retrain`` trains again and replaces this recipe's cached file. A cached file of another
    recipe or architecture is left alone and the judge is trained into a new file name.
    """
    _check_judge_size(size, recipe)
    judge = load_or_train(
        attribute_judge_file(recipe),
        lambda model: _train(model, device, recipe),
        seed=recipe.train_seed,
        device=device,
        retrain=retrain,
        training_note=f"{recipe.train_size:,} faces",
    )
    accuracy = dict(judge.record["accuracy"])
    return Judge(judge.model, size, accuracy, _describe(judge, size, recipe), judge.path)


def attribute_judge_file(recipe: JudgeRecipe) -> JudgeFile:
    """Where the judge of ``recipe`` is cached (one file serves every face size)."""
    return JudgeFile(
        name="attribute judge",
        stem=f"attribute_judge_{recipe.digest()}",
        recipe=recipe.as_dict(),
        new_model=lambda: AttributeClassifier(recipe.work_size, widths=recipe.widths),
        retrain_time="about half a minute",
    )


def _check_judge_size(size: int, recipe: JudgeRecipe) -> None:
    if size not in SUPPORTED_SIZES or size < recipe.work_size:
        valid = [s for s in SUPPORTED_SIZES if s >= recipe.work_size]
        raise ValueError(
            f"Unsupported judge image size {size!r}; supported sizes: {', '.join(map(str, valid))}."
        )


def _train(
    model: AttributeClassifier, device: torch.device | str, recipe: JudgeRecipe
) -> dict[str, Any]:
    """Train on blurred and noisy faces; return the accuracy per attribute on held-out faces.

    Adam at the recipe's learning rate, then a few epochs at a tenth of it, to settle.
    """
    train, test = load_faces(
        recipe.train_size, recipe.test_size, recipe.work_size, recipe.data_seed
    )
    data = (train.images, *train.attributes.values())
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.learning_rate)
    kernel = _gaussian_kernel(recipe.blur_sigma).to(device)

    def augmented_loss(
        model: AttributeClassifier, images: torch.Tensor, *labels: torch.Tensor
    ) -> torch.Tensor:
        return attribute_loss(model, _blur_and_noise(images, kernel, recipe.max_noise), *labels)

    stages = [
        (recipe.epochs, recipe.learning_rate),
        (recipe.fine_tune_epochs, recipe.learning_rate / 10),
    ]
    for stage, (epochs, learning_rate) in enumerate(stages):
        if epochs == 0:
            continue
        for group in optimizer.param_groups:
            group["lr"] = learning_rate
        fit(
            model,
            augmented_loss,
            data,
            optimizer=optimizer,
            epochs=epochs,
            batch_size=recipe.batch_size,
            seed=recipe.train_seed + stage,
            device=device,
            log_every=epochs,
            desc=f"attribute judge, stage {stage + 1}",
        )
    return {"accuracy": attribute_accuracy(model, test.images, test.attributes)}


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    """A normalised 1-D Gaussian of radius 2 sigma (at least one pixel)."""
    radius = max(1, round(2 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    weights = torch.exp(-0.5 * (offsets / sigma).square())
    return weights / weights.sum()


def _blur_and_noise(images: torch.Tensor, kernel: torch.Tensor, max_noise: float) -> torch.Tensor:
    """Each image blended with its blurred copy (uniform random weight) plus Gaussian noise."""
    n, channels = images.shape[:2]
    radius = len(kernel) // 2
    rows = kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1)  # depthwise (C, 1, K, 1)
    padded = F.pad(images, (radius, radius, radius, radius), mode="replicate")
    blurred = F.conv2d(
        F.conv2d(padded, rows, groups=channels), rows.transpose(2, 3), groups=channels
    )
    weight = torch.rand(n, 1, 1, 1, device=images.device)
    noise = max_noise * torch.rand(n, 1, 1, 1, device=images.device) * torch.randn_like(images)
    return (images + weight * (blurred - images) + noise).clamp(0.0, 1.0)


def _describe(judge: CachedJudge, size: int, recipe: JudgeRecipe) -> str:
    """Where the judge comes from, how it was trained and how well it scores."""
    record = judge.record
    scores = ", ".join(f"{name} {value:.3f}" for name, value in record["accuracy"].items())
    return (
        f"attribute classifier trained on {recipe.train_size:,} procedural faces at "
        f"{recipe.work_size}x{recipe.work_size} (load_faces seed {recipe.data_seed}, "
        f"{recipe.epochs}+{recipe.fine_tune_epochs} epochs, {record['train_seconds']:.0f} s); "
        f"held-out accuracy on {recipe.test_size:,} faces: {scores}; judges {size}x{size} faces "
        f"after area downsampling; cached at {shown_path(judge.path)}"
    )
