"""PCA and subspace comparison: the baseline that autoencoders are measured against."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PCA:
    mean: torch.Tensor  # (D,)
    components: torch.Tensor  # (k, D), orthonormal rows, by decreasing variance
    explained_variance: torch.Tensor  # (k,)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) - self.mean) @ self.components.T  # (N, D) -> (N, k)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return codes @ self.components + self.mean  # (N, k) -> (N, D)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x)).view_as(x)


def fit_pca(x: torch.Tensor, k: int) -> PCA:
    """Top-``k`` principal directions of the rows of ``x`` (any shape (N, ...), flattened)."""
    flat = x.flatten(1).double()  # (N, D); float64 so that small eigen-gaps are resolved
    if not 1 <= k <= min(flat.shape):
        raise ValueError(
            f"k must be between 1 and {min(flat.shape)} for data of shape {tuple(flat.shape)}, got "
            f"{k}."
        )
    mean = flat.mean(0)
    _, singular_values, vh = torch.linalg.svd(flat - mean, full_matrices=False)
    variance = singular_values[:k] ** 2 / (len(flat) - 1)
    return PCA(mean.to(x.dtype), vh[:k].to(x.dtype), variance.to(x.dtype))


def principal_angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Angles in degrees between the column spaces of (D, k) matrices ``a`` and ``b``, ascending.

    All zero means the two matrices span the same subspace, whatever their bases.
    """
    qa, _ = torch.linalg.qr(a.double())
    qb, _ = torch.linalg.qr(b.double())
    cosines = torch.linalg.svdvals(qa.T @ qb).clamp(-1.0, 1.0)
    return torch.rad2deg(torch.arccos(cosines))  # svdvals are descending, so angles ascend
