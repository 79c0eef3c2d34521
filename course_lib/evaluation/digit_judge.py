"""The frozen digit judge: a classifier that scores generated digits, trained once and cached.

Several notebooks ask "which digit is this sample, and is it the one we asked for?" (DBN samples
per label, a conditional GAN's accuracy), and later compare real and generated digits by a
Frechet distance in the judge's feature space. They all use the same judge: a ``DigitClassifier``
trained by a fixed, seeded recipe on 12,000 of the official training images and scored on the
10,000 official test images (with only a fallback source, on that source's train and held-out
parts). The first call trains it (about half a minute on one CPU thread) and saves it in
``cache_dir()``; later calls load it (``course_lib.evaluation.judging``).

The file name carries a digest of the recipe and the kind of data the judge was trained on
(``MNISTData.kind``), and the file records both, so a judge trained on the scikit-learn digits
fallback is never used once MNIST is available.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from course_lib.data.mnist import MNISTData, load_mnist
from course_lib.evaluation.judging import CachedJudge, JudgeFile, TrainingRecipe, load_or_train
from course_lib.models.digit_classifier import IMAGE_SHAPE, DigitClassifier, digit_loss
from course_lib.runtime.config import shown_path
from course_lib.training.fit import fit

PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]  # 784, the length of a flattened digit


@dataclass(frozen=True)
class DigitJudgeRecipe(TrainingRecipe):
    """Everything that determines the judge's weights. Change ``version`` when the code changes."""

    train_size: int = 12_000  # a seeded subset of the 60,000 training images (a fallback caps it)
    test_size: int = 10_000  # the official test set (a fallback caps it to its held-out part)
    widths: tuple[int, int] = (32, 64)
    feature_size: int = 128
    epochs: int = 4
    batch_size: int = 64
    learning_rate: float = 2e-3
    # The notebooks' seed. The judge never trains on the images that generated digits are compared
    # with: those are test images (held-out ones with a fallback source), which it only scores.
    data_seed: int = 0
    train_seed: int = 0
    version: str = "digit-judge-2"


DEFAULT_DIGIT_RECIPE = DigitJudgeRecipe()
# For smoke runs only: trains in a second or two, to roughly 90% held-out accuracy.
QUICK_DIGIT_RECIPE = DigitJudgeRecipe(train_size=1_000, test_size=500, epochs=2, batch_size=32)
DIGIT_RECIPES = {"default": DEFAULT_DIGIT_RECIPE, "quick": QUICK_DIGIT_RECIPE}


@dataclass(frozen=True)
class DigitJudge:
    """A frozen digit classifier for 28 x 28 images in [0, 1], with its provenance.

    Every method takes images (N, 1, 28, 28) or flattened (N, 784), as RBM and DBN samples come,
    works through them ``batch_size`` at a time and returns its result on the CPU.
    """

    model: DigitClassifier = field(repr=False)
    accuracy: float  # on the test images (the held-out part of a fallback source)
    source: str
    path: Path

    def probabilities(self, images: torch.Tensor, batch_size: int = 1_000) -> torch.Tensor:
        """Probabilities (N, 10) of the digits 0-9."""
        return F.softmax(_in_batches(self.model, images, batch_size, self._device), dim=1)

    def predict(self, images: torch.Tensor, batch_size: int = 1_000) -> torch.Tensor:
        """The most likely digit of each image, int64 (N,)."""
        return _in_batches(self.model, images, batch_size, self._device).argmax(dim=1)

    def features(self, images: torch.Tensor, batch_size: int = 1_000) -> torch.Tensor:
        """The classifier's feature vectors (N, feature_size), e.g. for a Frechet distance."""
        return _in_batches(self.model.features, images, batch_size, self._device)

    def accuracy_on(
        self, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1_000
    ) -> float:
        """The share of ``images`` whose predicted digit equals ``labels`` (N,)."""
        if labels.shape != images.shape[:1]:
            raise ValueError(
                f"Expected one label per image ({len(images)}), got labels {tuple(labels.shape)}."
            )
        return (self.predict(images, batch_size) == labels.cpu()).float().mean().item()

    @property
    def _device(self) -> torch.device:
        return next(self.model.parameters()).device


def _as_digit_batch(images: torch.Tensor) -> torch.Tensor:
    """``images`` as (N, 1, 28, 28), or a ValueError that names what was wrong and the fix."""
    if images.dim() == 2 and images.shape[1] == PIXELS:
        images = images.reshape(-1, *IMAGE_SHAPE)  # (N, 784) -> (N, 1, 28, 28)
    elif images.dim() != 4 or tuple(images.shape[1:]) != IMAGE_SHAPE:
        raise ValueError(
            f"The digit judge expects images of shape (N, 1, 28, 28) or flattened (N, {PIXELS}), "
            f"got {tuple(images.shape)}. Fix: add the channel axis with images.unsqueeze(1), or "
            f"reshape with images.reshape(-1, 1, 28, 28)."
        )
    # Written so that NaN fails too.
    if not images.is_floating_point() or not ((images >= 0) & (images <= 1)).all():
        raise ValueError(
            f"The digit judge expects float pixels in [0, 1], got {images.dtype} pixels from "
            f"{images.min().item():g} to {images.max().item():g}. Fix: divide uint8 pixels by 255; "
            "map tanh outputs in [-1, 1] with (images + 1) / 2."
        )
    return images


@torch.no_grad()
def _in_batches(
    function: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    batch_size: int,
    device: torch.device | str,
) -> torch.Tensor:
    """``function`` (the model or its ``features``) on checked digits, run on ``device``.

    The results are joined on the CPU.
    """
    images = _as_digit_batch(images)
    return torch.cat(
        [function(batch.to(device, torch.float32)).cpu() for batch in images.split(batch_size)]
    )


def load_digit_judge(
    device: torch.device | str = "cpu",
    retrain: bool = False,
    recipe: DigitJudgeRecipe = DEFAULT_DIGIT_RECIPE,
) -> DigitJudge:
    """The cached digit judge; trained first (and cached) when there is none.

    The MNIST data is loaded either way (a fraction of a second), since the kind of data found
    decides which cached file applies. ``retrain`` trains again and replaces this recipe's cached
    file. A cached file of another recipe or architecture is left alone and the judge is trained
    into a new file name.
    """
    data = load_mnist(recipe.train_size, recipe.test_size, seed=recipe.data_seed)
    judge = load_or_train(
        digit_judge_file(recipe, data.kind),
        lambda model: _train(model, data, device, recipe),
        seed=recipe.train_seed,
        device=device,
        retrain=retrain,
        training_note=data.short_source,
    )
    accuracy = judge.record["accuracy"]
    return DigitJudge(judge.model, accuracy, _describe(judge, recipe), judge.path)


def digit_judge_file(recipe: DigitJudgeRecipe, data_kind: str) -> JudgeFile:
    """Where the judge of ``recipe``, trained on data of ``data_kind``, is cached."""
    return JudgeFile(
        name="digit judge",
        stem=f"digit_judge_{data_kind}_{recipe.digest()}",
        recipe=recipe.as_dict(),
        new_model=lambda: DigitClassifier(recipe.widths, recipe.feature_size),
        retrain_time="about half a minute",
        provenance={"data_kind": data_kind},
    )


def _train(
    model: DigitClassifier, data: MNISTData, device: torch.device | str, recipe: DigitJudgeRecipe
) -> dict[str, Any]:
    """Adam on the training digits; returns the data's name and the accuracy on its test part."""
    fit(
        model,
        digit_loss,
        (data.train_images, data.train_labels),
        optimizer=torch.optim.Adam(model.parameters(), lr=recipe.learning_rate),
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        seed=recipe.train_seed,
        device=device,
        log_every=recipe.epochs,
        desc="digit judge",
    )
    model.eval()
    predicted = _in_batches(model, data.test_images, 1_000, device).argmax(dim=1)
    accuracy = (predicted == data.test_labels).float().mean().item()
    return {"data": data.short_source, "accuracy": accuracy}


def _describe(judge: CachedJudge, recipe: DigitJudgeRecipe) -> str:
    """Where the judge comes from, how it was trained and how well it scores."""
    record = judge.record
    return (
        f"digit classifier trained on {record['data']} (load_mnist seed {recipe.data_seed}; "
        f"recipe {recipe.version} {recipe.digest()}: {recipe.epochs} epochs of Adam, "
        f"{record['train_seconds']:.0f} s); accuracy {record['accuracy']:.3f} on the test part "
        f"of that data; cached at {shown_path(judge.path)}"
    )
