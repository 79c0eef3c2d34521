"""Cartoon faces as two data sets with different label sets: StarGAN's mask vector at course scale.

StarGAN (Choi et al. 2018, section 3.2) trains one generator on two data sets that label
different things: CelebA labels hair colour, gender and age, RaFD labels facial expressions.
Each image is known only by its own data set's labels. The condition the generator and the
classifier see is

    c = [labels of data set 1, labels of data set 2, m],

where the *mask vector* m is one-hot over the data sets (which labels are known) and the labels
of the other data set are set to zero. The domain classification loss then counts only the
labels of the example's own data set.

Here the two data sets are cut from the procedural faces of ``course_lib.data.faces``:

- data set 0 ("CelebA-like") is labelled with hair colour (one-hot over 5 values) and glasses
  (one binary entry, 1 for glasses);
- data set 1 ("RaFD-like") is labelled with expression (one-hot over 5 values).

Every face belongs to exactly one data set, drawn at random from the seed (half of the faces
each). All faces are drawn from the same distribution: only the labels differ, so a face of
data set 1 still has a hair colour, which nobody told the model. The true attributes are kept
for evaluation only (``DomainFaces.attributes``).

The condition layout (13 entries) is fixed here and used everywhere (models, losses, notebook):

    entries 0-4   hair_colour  one-hot   data set 0   (HAIR_COLOUR)
    entry   5     glasses      binary    data set 0   (GLASSES)
    entries 6-10  expression   one-hot   data set 1   (EXPRESSION)
    entries 11-12 mask m       one-hot over the two data sets   (MASK)

The discriminator's classifier predicts the first ``N_LABELS`` = 11 entries (never the mask).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from course_lib.data.face_conditions import (
    CONDITION_SIZE,
    DATASET_NAMES,
    GROUPS,
    MASK,
    N_DATASETS,
    LabelGroup,
    check_conditions,
)
from course_lib.data.faces import ATTRIBUTES, attribute_index, make_faces

Tensor = torch.Tensor
# A stream of its own for the data set assignment, so it shares no random numbers with the faces.
ASSIGNMENT_STREAM = 0x57A2


def dataset_attributes(dataset: int) -> tuple[str, ...]:
    """The attributes labelled in ``dataset`` (0 or 1), in condition order."""
    dataset = _check_dataset(dataset)
    return tuple(group.attribute for group in GROUPS if group.dataset == dataset)


def _check_dataset(dataset: int) -> int:
    is_int = isinstance(dataset, int | np.integer) and not isinstance(dataset, bool)
    if not is_int or not 0 <= dataset < N_DATASETS:
        raise ValueError(
            f"dataset must be 0 ({DATASET_NAMES[0]}) or 1 ({DATASET_NAMES[1]}), got {dataset!r}."
        )
    return int(dataset)


@dataclass(frozen=True)
class DomainFaces:
    """Faces split into two label sets.

    ``images`` (N, 3, S, S) float32 in [0, 1]; ``condition`` (N, 13) float32, each face's own
    labels with the other data set's entries zero and the mask set (layout in the module
    docstring); ``dataset`` (N,) int64 in {0, 1}; ``attributes`` every true label (N,) int64 of
    every face, for evaluation only: a model trained on ``condition`` never sees the labels of
    the other data set.
    """

    images: Tensor = field(repr=False)
    condition: Tensor = field(repr=False)
    dataset: Tensor = field(repr=False)
    attributes: dict[str, Tensor] = field(repr=False)
    size: int

    def __len__(self) -> int:
        return len(self.images)


def assign_datasets(n: int, seed: int = 0) -> Tensor:
    """(n,) int64: a random n // 2 of the faces in data set 0, the others in data set 1."""
    stream_seed = np.random.SeedSequence([seed, ASSIGNMENT_STREAM]).generate_state(1)[0]
    generator = torch.Generator().manual_seed(int(stream_seed))
    dataset = torch.ones(n, dtype=torch.long)
    dataset[torch.randperm(n, generator=generator)[: n // 2]] = 0
    return dataset


def condition_from_attributes(attributes: dict[str, Tensor], dataset: Tensor) -> Tensor:
    """Conditions (N, 13) for faces with labels ``attributes`` (name -> (N,) int64) in data sets
    ``dataset`` (N,).

    Each face gets the labels of its own data set's groups and the mask one-hot(dataset); the
    entries of the other data set stay zero. Labels of attributes that no data set uses are ignored.
    """
    dataset = torch.as_tensor(dataset).long().reshape(-1)
    if len(dataset) and (dataset.min() < 0 or dataset.max() >= N_DATASETS):
        raise ValueError(
            f"dataset entries must be 0 or 1, got values from {int(dataset.min())} to "
            f"{int(dataset.max())}."
        )
    condition = torch.zeros(len(dataset), CONDITION_SIZE)
    for group in GROUPS:
        if group.attribute not in attributes:
            raise ValueError(
                f"attributes lacks {group.attribute!r}, which data set {group.dataset} labels."
            )
        labels = torch.as_tensor(attributes[group.attribute]).long().reshape(-1)
        if labels.shape != dataset.shape:
            raise ValueError(
                f"attributes[{group.attribute!r}] has {len(labels)} labels for {len(dataset)} "
                "faces; give one per face."
            )
        condition[:, group.columns] = _encode(group, labels) * (dataset == group.dataset).unsqueeze(
            1
        )
    condition[:, MASK] = F.one_hot(dataset, N_DATASETS).float()
    return condition


def _encode(group: LabelGroup, labels: Tensor) -> Tensor:
    """Labels (N,) as the group's entries (N, width): the label if binary, else one-hot."""
    if group.binary:
        return labels.float().unsqueeze(1)
    return F.one_hot(labels, group.width).float()


def two_label_sets(n: int, size: int = 32, seed: int = 0) -> DomainFaces:
    """``n`` faces of ``make_faces(n, size, seed)``, each labelled by one of the two data sets.

    Deterministic: the same (n, size, seed) gives the same faces and the same assignment. Use
    distinct seeds for training and held-out faces.
    """
    faces = make_faces(n, size, seed)
    dataset = assign_datasets(n, seed)
    condition = condition_from_attributes(faces.attributes, dataset)
    return DomainFaces(faces.images, condition, dataset, dict(faces.attributes), faces.size)


def target_condition(dataset: int, n: int | None = None, **values: str | int) -> Tensor:
    """The condition (13,) that asks for the attribute ``values`` of ``dataset``; (n, 13) copies
    with ``n``.

    Every attribute of the data set must be given, by value name or index, e.g.
    ``target_condition(0, hair_colour="blond", glasses="no")`` or
    ``target_condition(1, expression="happy")``. Raises a ValueError that lists the valid choices
    for an unknown attribute or value, an attribute of the other data set, or a missing one.
    """
    dataset = _check_dataset(dataset)
    own = dataset_attributes(dataset)
    for name in values:
        if name in own:
            continue
        other = [g.dataset for g in GROUPS if g.attribute == name]
        if other:
            reason = f"{name!r} belongs to data set {other[0]} ({DATASET_NAMES[other[0]]})"
        elif name in ATTRIBUTES:
            reason = f"{name!r} is labelled in neither data set"
        else:
            reason = f"unknown attribute {name!r}"
        raise ValueError(
            f"{reason}; data set {dataset} ({DATASET_NAMES[dataset]}) takes {', '.join(own)}."
        )
    missing = [name for name in own if name not in values]
    if missing:
        raise ValueError(
            f"A condition of data set {dataset} needs a value for every one of its attributes "
            f"({', '.join(own)}); missing: {', '.join(missing)}."
        )
    condition = torch.zeros(CONDITION_SIZE)
    for group in GROUPS:
        if group.dataset == dataset:
            label = torch.tensor([attribute_index(group.attribute, values[group.attribute])])
            condition[group.columns] = _encode(group, label)[0]
    condition[MASK.start + dataset] = 1.0
    return condition if n is None else condition.expand(n, CONDITION_SIZE).clone()


def random_target_conditions(dataset: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Random target conditions (B, 13) for data sets ``dataset`` (B,), on ``dataset``'s device.

    Each example's target lies in its own data set's label space, as in the paper: uniform over
    the values of each of its data set's attributes (glasses on or off with probability 1/2), the
    other data set's entries zero, the mask one-hot(dataset). The numbers are drawn on the CPU
    from ``generator`` (torch's global stream when None) for every attribute of every example,
    so the stream advances by the same amount whatever the data sets are.
    """
    if dataset.dim() != 1 or dataset.is_floating_point():
        raise ValueError(
            f"dataset must be an integer tensor of shape (B,), got {dataset.dtype} "
            f"{tuple(dataset.shape)}."
        )
    labels = {
        group.attribute: torch.randint(
            len(ATTRIBUTES[group.attribute]), (len(dataset),), generator=generator
        )
        for group in GROUPS
    }
    return condition_from_attributes(labels, dataset.cpu()).to(dataset.device)


def condition_attributes(condition: Tensor) -> dict[str, Tensor]:
    """The labels (B,) int64 that conditions (B, 13) ask for, -1 where the row's data set does not
    label the attribute (for comparing with the judge's predictions)."""
    dataset = check_conditions(condition)
    labels = {}
    for group in GROUPS:
        entries = condition[:, group.columns]
        label = entries[:, 0].long() if group.binary else entries.argmax(dim=1)
        labels[group.attribute] = torch.where(dataset == group.dataset, label, -1)
    return labels
