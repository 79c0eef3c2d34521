"""Checks that an unpaired translation does what its headline score says (notebook 09).

A target-attribute accuracy can be high while the translation fails as a translation: StarGAN can
repaint a whole face in a new tint that the judge reads as "blond", and a CycleGAN round trip can
come back right because the generator hid the input in a faint signal rather than drawing it.
Three checks look behind those scores:

- **Identity, against the truth.** The procedural faces can be redrawn with only the requested
  labels changed (``counterfactual_faces``): the image a perfect translation would produce.
  ``identity_scores`` compares a translation with it (pixel L1), with the input on the pixels the
  edit should leave alone, and asks the judge whether the attributes nobody asked to change
  survived.
- **Can the judge be fooled by colour?** ``colour_cast`` tints real faces towards a colour
  without changing any drawn attribute; a judge that reads the tint as a hair colour would
  reward a translation that only recolours.
- **Steganography** (Chu et al., 2017): ``class_kept_under_noise`` and
  ``round_trip_error_under_noise`` add small Gaussian noise to G(x) before F; a round trip
  that relies on a hidden low-amplitude code breaks under noise that barely changes how G(x)
  looks.

Held-out targets need a random stream of their own (``held_out_targets``): the faces of
``two_label_sets(n, size, seed)`` draw their labels from ``torch.Generator().manual_seed(2 seed)``,
so targets drawn from a generator seeded with that same number repeat each face's own hair colour,
and a generator that changes nothing would score 100 % on hair colour.

All per-image scores are returned as (N,) tensors so ``course_lib.evaluation.intervals`` can
bootstrap them over the held-out images.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
import torch

from course_lib.data.face_domains import (
    DomainFaces,
    condition_attributes,
    random_target_conditions,
)
from course_lib.data.faces import render_faces
from course_lib.evaluation.attribute_judge import Judge
from course_lib.evaluation.digit_judge import DigitJudge
from course_lib.evaluation.intervals import Interval, bootstrap_mean

# Attributes that no data set labels: a translation should never change them.
UNLABELLED_ATTRIBUTES = ("skin_tone", "face_shape", "hair_style")
# A pixel counts as "left alone by the edit" where the true edited face differs from the input by
# less than this in every channel (images in [0, 1]; anti-aliased edges move by more).
UNCHANGED_TOLERANCE = 0.02
# Mixed with the seed into a stream that no face drawing uses (faces use 2 seed and 2 seed + 1).
TARGET_STREAM = 0x7A26


def held_out_targets(faces: DomainFaces, seed: int = 0) -> torch.Tensor:
    """Random target conditions (N, 13) for held-out ``faces``, each within its own data set,
    from a random stream independent of every face's labels (see the module docstring)."""
    stream_seed = np.random.SeedSequence([seed, TARGET_STREAM]).generate_state(1)[0]
    return random_target_conditions(faces.dataset, torch.Generator().manual_seed(int(stream_seed)))


def counterfactual_faces(
    faces: DomainFaces, targets: torch.Tensor, nuisance: Mapping[str, torch.Tensor]
) -> torch.Tensor:
    """The faces (N, 3, S, S) in [0, 1] redrawn with the labels ``targets`` (N, 13) ask for.

    Every other label and the ``nuisance`` the faces were drawn with (position, scale,
    background) stay as they were, so this is what a perfect translation would output. Raises a
    ValueError when ``nuisance`` does not redraw ``faces`` themselves exactly.
    """
    if not torch.equal(render_faces(faces.attributes, faces.size, nuisance), faces.images):
        raise ValueError(
            "nuisance does not redraw these faces: pass the nuisance they were drawn with, e.g. "
            "course_lib.data.faces.sample_nuisance(len(faces), seed) for two_label_sets(n, size, "
            "seed)."
        )
    wanted = condition_attributes(targets)
    edited = {
        name: torch.where(wanted[name] >= 0, wanted[name], labels) if name in wanted else labels
        for name, labels in faces.attributes.items()
    }
    return render_faces(edited, faces.size, nuisance)


def identity_scores(
    judge: Judge,
    faces: DomainFaces,
    translated: torch.Tensor,
    truth: torch.Tensor,
    targets: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Per-image scores (N,) of ``translated`` faces (N, 3, S, S) in [0, 1], asked for ``targets``.

    - ``target_read``: the share of the asked-for attributes that the judge reads as asked;
    - ``others_kept``: the share of the other attributes (the other data set's and the unlabelled
      ones) that the judge still reads as the input's true labels;
    - ``l1_to_truth``: mean absolute error to ``truth``, the counterfactual face;
    - ``l1_outside_edit``: mean absolute error to the input over the pixels that the true edit
      leaves unchanged (background, skin, whatever the request does not touch).
    """
    if translated.shape != faces.images.shape or truth.shape != faces.images.shape:
        raise ValueError(
            f"translated, truth and the faces must have one shape, got {tuple(translated.shape)}, "
            f"{tuple(truth.shape)} and {tuple(faces.images.shape)}."
        )
    read = judge.predict(translated)
    wanted = condition_attributes(targets)
    target_hits, target_count = torch.zeros(len(faces)), torch.zeros(len(faces))
    kept_hits, kept_count = torch.zeros(len(faces)), torch.zeros(len(faces))
    for name in (*wanted, *UNLABELLED_ATTRIBUTES):
        asked = wanted[name] >= 0 if name in wanted else torch.zeros(len(faces), dtype=torch.bool)
        goal = torch.where(asked, wanted[name], faces.attributes[name]) if name in wanted else None
        hit = (read[name] == (goal if goal is not None else faces.attributes[name])).float()
        target_hits += hit * asked
        target_count += asked.float()
        kept_hits += hit * ~asked
        kept_count += (~asked).float()
    unchanged = (
        (truth - faces.images).abs().amax(dim=1) < UNCHANGED_TOLERANCE
    ).float()  # (N, S, S)
    outside = (translated - faces.images).abs().mean(dim=1) * unchanged  # (N, S, S)
    return {
        "target_read": target_hits / target_count,
        "others_kept": kept_hits / kept_count,
        "l1_to_truth": (translated - truth).abs().flatten(1).mean(dim=1),
        "l1_outside_edit": outside.flatten(1).sum(dim=1) / unchanged.flatten(1).sum(dim=1).clamp(1),
    }


# What each identity score means, as a table row names it.
IDENTITY_SCORE_LABELS = {
    "target_read": "requested attributes read (%)",
    "others_kept": "other attributes kept (%)",
    "l1_to_truth": "L1 to the true edit",
    "l1_outside_edit": "L1 to the input outside the edit",
}


def identity_summary(scores: Mapping[str, torch.Tensor], seed: int = 0) -> dict[str, Interval]:
    """The mean of each per-image score of ``identity_scores`` with its 95 % bootstrap interval
    over the images; the two shares in percent."""
    return {
        name: bootstrap_mean(
            scores[name] * (100 if name in ("target_read", "others_kept") else 1), seed=seed
        )
        for name in IDENTITY_SCORE_LABELS
    }


def colour_cast(images: torch.Tensor, colour: Sequence[float], strength: float) -> torch.Tensor:
    """Images (N, 3, H, W) in [0, 1] blended towards the RGB ``colour`` by ``strength`` in [0, 1]:
    a uniform tint that changes no drawn shape."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must lie in [0, 1], got {strength}.")
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"Expected RGB images (N, 3, H, W), got {tuple(images.shape)}.")
    tint = torch.as_tensor(colour, dtype=images.dtype).reshape(1, 3, 1, 1)
    return (1 - strength) * images + strength * tint


def _through_noise(
    first: Callable[[torch.Tensor], torch.Tensor],
    then: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    noise_levels: Sequence[float],
    seed: int,
    device: torch.device | str,
) -> Iterator[tuple[float, torch.Tensor]]:
    """(sigma, then(first(x) + sigma * noise) in [0, 1] on the CPU) for each noise level."""
    if any(sigma < 0 for sigma in noise_levels):
        raise ValueError(f"noise levels must be non-negative, got {list(noise_levels)}.")
    middle = first(images.to(device) * 2 - 1)
    noise = torch.randn(middle.shape, generator=torch.Generator().manual_seed(seed))
    for sigma in noise_levels:
        noisy = (middle + sigma * noise.to(middle.device)).clamp(-1, 1)
        yield sigma, ((then(noisy) + 1) / 2).clamp(0, 1).cpu()


@torch.no_grad()
def class_kept_under_noise(
    judge: DigitJudge,
    first: Callable[[torch.Tensor], torch.Tensor],
    then: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    labels: torch.Tensor,
    noise_levels: Sequence[float],
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> dict[float, torch.Tensor]:
    """For each noise level sigma: 1.0 where the judge reads then(first(x) + sigma * noise) as
    ``labels``, else 0.0, (N,) per level.

    ``images`` (N, C, H, W) in [0, 1] are scaled to [-1, 1] and moved to ``device``;
    ``first`` and ``then`` map [-1, 1] images to [-1, 1] images (for CycleGAN's round trip, G and
    F; for F alone on real images of B, the identity and F). The noise is standard Gaussian on
    the [-1, 1] scale, drawn once from ``seed`` and scaled for every level; the noisy image is
    clipped to [-1, 1].
    """
    return {
        sigma: (judge.predict(back) == labels).double()
        for sigma, back in _through_noise(first, then, images, noise_levels, seed, device)
    }


@torch.no_grad()
def round_trip_error_under_noise(
    first: Callable[[torch.Tensor], torch.Tensor],
    then: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    noise_levels: Sequence[float],
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> dict[float, torch.Tensor]:
    """For each noise level sigma: the mean absolute error (N,) between then(first(x) + sigma *
    noise) and x itself, in [0, 1]; the same noise as ``class_kept_under_noise`` with the same
    ``seed``. Fine detail that rides on a faint signal is lost here before the class is."""
    return {
        sigma: (back - images).abs().flatten(1).mean(dim=1).double()
        for sigma, back in _through_noise(first, then, images, noise_levels, seed, device)
    }
