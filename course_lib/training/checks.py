"""Checks every training loop runs on its arguments before any work starts.

A wrong count or a wrong kind of data otherwise fails deep inside torch (a ``split_size`` error
for a batch size of 0) or, worse, trains on garbage without a word (images stored as 0..255, a
NaN in the data). Each check raises with a message that names the argument and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def check_count(value: object, name: str, minimum: int = 1) -> int:
    """``value`` if it is an int of at least ``minimum``, else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int of at least {minimum}, got {value!r}.")
    return value


def check_training_tensors(tensors: Sequence[torch.Tensor], what: str) -> tuple[torch.Tensor, ...]:
    """The tensors, after checking that none holds raw 8-bit images or non-finite values.

    Integer tensors other than ``uint8`` (class labels) pass as they are.
    """
    for tensor in tensors:
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"The {what} must be tensors, got {type(tensor).__name__}.")
        if tensor.dtype == torch.uint8:
            raise TypeError(
                f"The {what} are uint8 (raw 0..255 pixels). Convert them first: "
                "images.float() / 255 gives the [0, 1] range the course's models expect."
            )
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            bad = int((~torch.isfinite(tensor)).sum())
            raise ValueError(
                f"The {what} hold {bad:,} NaN or infinite values; a loss on them is NaN. Find "
                "where they come from (a division by zero in preprocessing?) or drop those rows."
            )
    return tuple(tensors)


def check_last_batch(model: nn.Module, examples: int, batch_size: int) -> None:
    """Refuse a batch size that leaves a last minibatch of one example for a model with a
    BatchNorm1d, which cannot normalise a single feature vector in training mode (BatchNorm2d
    still has every pixel of the one image)."""
    has_batch_norm_1d = any(isinstance(m, nn.BatchNorm1d) for m in model.modules())
    if has_batch_norm_1d and examples % batch_size == 1 and examples > 1:
        raise ValueError(
            f"{examples} examples in minibatches of {batch_size} leave a last minibatch of one "
            "example, which BatchNorm cannot normalise. Choose a batch size that divides the "
            "data or leaves at least 2 (or drop one example)."
        )
