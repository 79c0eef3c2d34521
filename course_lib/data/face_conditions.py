"""The layout of StarGAN's condition vectors for the two label sets of the cartoon faces: which
entries hold which attribute, the data-set mask, and a check of a batch of conditions. It imports
no data set, so losses can use it (``course_lib.losses.translation``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

Tensor = torch.Tensor


@dataclass(frozen=True)
class LabelGroup:
    """One labelled attribute: which data set labels it and which entries of the condition hold it.

    A group with a single entry (glasses) is binary: the entry is the label itself (0 or 1) and
    its loss is a binary cross-entropy. A wider group is one-hot over the attribute's values and
    its loss is a softmax cross-entropy.
    """

    attribute: str
    dataset: int
    columns: slice

    @property
    def width(self) -> int:
        return self.columns.stop - self.columns.start

    @property
    def binary(self) -> bool:
        return self.width == 1


# The layout of a condition vector; nothing else in the course writes these numbers.
HAIR_COLOUR = slice(0, 5)
GLASSES = slice(5, 6)
EXPRESSION = slice(6, 11)
MASK = slice(11, 13)
N_LABELS = 11  # entries the classifier predicts: every label, not the mask
N_DATASETS = 2
CONDITION_SIZE = 13
GROUPS = (
    LabelGroup("hair_colour", 0, HAIR_COLOUR),
    LabelGroup("glasses", 0, GLASSES),
    LabelGroup("expression", 1, EXPRESSION),
)
DATASET_NAMES = ("hair colour and glasses (CelebA-like)", "expression (RaFD-like)")


def check_conditions(condition: Tensor) -> Tensor:
    """The data set (B,) int64 of each row of ``condition`` (B, 13), after checking its layout.

    A valid row has a one-hot mask, a one-hot entry for each one-hot group of its data set, 0 or 1
    for a binary group, and zeros in the other data set's entries. Raises a ValueError that says
    what is wrong otherwise.
    """
    if (
        condition.dim() != 2
        or condition.shape[1] != CONDITION_SIZE
        or not condition.is_floating_point()
    ):
        raise ValueError(
            f"Conditions must be float tensors of shape (B, {CONDITION_SIZE}) "
            f"({N_LABELS} labels and a {N_DATASETS}-entry mask), got {condition.dtype} "
            f"{tuple(condition.shape)}. Build them with target_condition or "
            "condition_from_attributes."
        )
    binary = (condition == 0) | (condition == 1)
    mask = condition[:, MASK]
    if not (binary[:, MASK].all(dim=1) & (mask.sum(dim=1) == 1)).all():
        raise ValueError(
            f"The mask (entries {MASK.start}-{MASK.stop - 1}) of every condition must be one-hot "
            f"over the {N_DATASETS} data sets."
        )
    dataset = mask.argmax(dim=1)
    for group in GROUPS:
        entries = condition[:, group.columns]
        own = dataset == group.dataset
        valid = binary[:, group.columns].all(dim=1) & (own | (entries == 0).all(dim=1))
        if not group.binary:
            valid &= ~own | (entries.sum(dim=1) == 1)
        if not valid.all():
            raise ValueError(
                f"Invalid {group.attribute} entries "
                f"({group.columns.start}-{group.columns.stop - 1}) in some conditions: data set "
                f"{group.dataset} must give {'0 or 1' if group.binary else 'a one-hot vector'} "
                "there, and the other data set zeros."
            )
    return dataset
