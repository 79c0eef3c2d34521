"""Loss terms of image-to-image translation, as pure functions on tensors: the L1 distances of
CycleGAN's cycle-consistency and identity terms and of StarGAN's reconstruction term, and StarGAN's
domain-classification loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.data.face_conditions import GROUPS, N_LABELS, check_conditions


def _l1(name: str, real: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    if real.shape != other.shape:
        raise ValueError(
            f"{name} compares images of the same shape, got {tuple(real.shape)} and "
            f"{tuple(other.shape)}. Check that each generator outputs the channels of the domain "
            "it translates into."
        )
    return F.l1_loss(other, real)


def cycle_loss(real: torch.Tensor, reconstructed: torch.Tensor) -> torch.Tensor:
    """mean |F(G(x)) - x|: how far the round trip through the other domain lands from the input."""
    return _l1("cycle_loss", real, reconstructed)


def identity_loss(real: torch.Tensor, mapped: torch.Tensor) -> torch.Tensor:
    """mean |G(y) - y|: how much a generator changes an image already of its output domain."""
    return _l1("identity_loss", real, mapped)


def domain_classification_loss(logits: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
    """Mean over examples of -log D_cls(labels | x), counting only the labels of the example's own
    data set.

    ``logits`` (B, 11) are D_cls's outputs, ``condition`` (B, 13) the labels with their mask. For
    an example of data set d the loss is the sum, over the attribute groups that d labels, of
    -log softmax(logits[group])[label] for a one-hot group and
    -[y log sigmoid(l) + (1 - y) log(1 - sigmoid(l))] for a binary one; the other data set's
    logits do not enter (nor get gradients).
    """
    if logits.dim() != 2 or logits.shape[1] != N_LABELS:
        raise ValueError(
            f"The classifier's logits must have shape (B, {N_LABELS}), one per label (not the "
            f"mask), got {tuple(logits.shape)}."
        )
    dataset = check_conditions(condition)  # (B,)
    if len(dataset) != len(logits):
        raise ValueError(
            f"Got {len(logits)} rows of logits and {len(dataset)} conditions; give one per example."
        )
    condition = condition.to(logits)
    per_example = torch.zeros(len(logits), device=logits.device, dtype=logits.dtype)
    for group in GROUPS:
        group_logits, targets = logits[:, group.columns], condition[:, group.columns]
        if group.binary:
            bce = F.binary_cross_entropy_with_logits(group_logits, targets, reduction="none")
            term = bce.sum(dim=1)
        else:
            term = F.cross_entropy(group_logits, targets.argmax(dim=1), reduction="none")
        per_example = per_example + torch.where(dataset == group.dataset, term, 0.0)  # (B,)
    return per_example.mean()


def reconstruction_loss(images: torch.Tensor, reconstructions: torch.Tensor) -> torch.Tensor:
    """mean |x - G(G(x, c), c')|: the L1 distance, averaged over all entries as in the paper's
    code."""
    if images.shape != reconstructions.shape:
        raise ValueError(
            f"images and reconstructions must have the same shape, got {tuple(images.shape)} and "
            f"{tuple(reconstructions.shape)}."
        )
    return (images - reconstructions).abs().mean()
