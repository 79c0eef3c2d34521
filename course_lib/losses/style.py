"""Content and style losses of neural style transfer (Gatys, Ecker and Bethge 2016).

Notation of the paper. A layer l of the network has N_l channels (feature maps), each of
M_l = H * W positions; its response to an image is the matrix F^l of shape (N_l, M_l), row i
being channel i flattened. Here feature maps keep their batch and spatial axes, (B, C, H, W),
and every function treats each image of the batch separately and sums over the batch (the
course always transfers one image, B = 1).

- Content (eq. 1): L_content = 1/2 sum_ij (F_ij - P_ij)^2, with P the features of the content
  image at the same layer. ``reduction="mean"`` divides it by N_l M_l, the number of entries:
  L_content = 1 / (2 N_l M_l) sum_ij (F_ij - P_ij)^2, which, like E_l below, does not grow with
  the image size. alpha of the sum form equals alpha of the mean form divided by N_l M_l.
- Style representation (eq. 3): the Gram matrix G_ij = sum_k F_ik F_jk.
- Style loss of one layer (eq. 4): E_l = 1 / (4 N_l^2 M_l^2) sum_ij (G_ij - A_ij)^2, with A the
  Gram matrix of the style image at that layer. The CV-team slides write the factor as
  1 / (4 c^2 h^2 w^2): the same thing, since N_l = c and M_l = h w.
- Style loss (eq. 5): L_style = sum_l w_l E_l over the chosen layers.
- Total (eq. 7): L_total = alpha L_content + beta L_style.

All functions are differentiable and have no side effects. Mismatched shapes and missing layers
raise ``ValueError`` naming the layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, NamedTuple, Sequence

import torch
from torch import Tensor


def _check_feature_map(features: Tensor, what: str) -> None:
    if not isinstance(features, Tensor) or features.dim() != 4:
        shape = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
        raise ValueError(f"{what} must be a feature map of shape (B, C, H, W), got {shape}.")


def _label(layer: str | None) -> str:
    return f"layer {layer!r}" if layer is not None else "the layer"


def gram_matrix(features: Tensor) -> Tensor:
    """The Gram matrices of feature maps: (B, C, H, W) -> (B, C, C).

    G_ij = sum_k F_ik F_jk, the sum running over the M = H * W positions k: the inner product of
    channel i with channel j (Gatys eq. 3). It is an *uncentred, unnormalised* correlation:

    - uncentred: channel means are not subtracted, so two channels that are both often active
      have a large G_ij even if their fluctuations are unrelated; ReLU features are nonnegative,
      so every entry is >= 0;
    - unnormalised: nothing is divided by the channels' norms or by M, so G grows with the
      image size (linearly in M) and with the scale of the features (quadratically).

    The Pearson correlation-coefficient matrix (``correlation_matrix``) removes both: it
    subtracts each channel's mean and divides by the standard deviations, giving entries in
    [-1, 1] with ones on the diagonal. The CV-team slides call the Gram matrix "표준화하지 않은
    상관행렬" (an unstandardised correlation matrix) for this reason. The size dependence is
    compensated inside the style loss, by the factor 1 / (4 N^2 M^2) of ``style_layer_loss``,
    as in the paper; the Gram matrix itself is left unnormalised.
    """
    _check_feature_map(features, "features")
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)  # F: one row per channel
    return flat @ flat.transpose(1, 2)


def correlation_matrix(features: Tensor) -> Tensor:
    """Pearson correlation coefficients between channels: (B, C, H, W) -> (B, C, C).

    R_ij = sum_k (F_ik - mean_i)(F_jk - mean_j)
           / sqrt(sum_k (F_ik - mean_i)^2 sum_k (F_jk - mean_j)^2),

    the matrix ``numpy.corrcoef`` gives for the rows of F. Unlike the Gram matrix it does not
    change when a channel is shifted or rescaled (by a positive factor), and it ignores how
    strongly channels respond, which is part of what the Gram matrix records as style.

    A channel that is constant over the image, up to rounding (a dead ReLU channel is all zeros,
    common in deep layers), has no defined correlation; its row and column are set to 0 here,
    diagonal included, where ``numpy.corrcoef`` would give NaN.
    """
    _check_feature_map(features, "features")
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    centred = flat - flat.mean(dim=2, keepdim=True)
    covariance = centred @ centred.transpose(1, 2)
    norms = covariance.diagonal(
        dim1=1, dim2=2
    ).sqrt()  # (B, C): sqrt(M) times the standard deviations
    # Constant up to rounding: the mean of equal float values can differ from them by an ulp,
    # which would otherwise turn a constant channel into correlations of pure rounding noise.
    scale = flat.abs().amax(dim=2) * (h * w) ** 0.5
    varies = norms > 8 * torch.finfo(features.dtype).eps * scale
    defined = varies.unsqueeze(2) & varies.unsqueeze(1)
    denominator = norms.unsqueeze(2) * norms.unsqueeze(1)
    safe = torch.where(defined, denominator, torch.ones_like(denominator))
    return torch.where(defined, covariance / safe, torch.zeros_like(covariance)).clamp(-1.0, 1.0)


CONTENT_REDUCTIONS = ("sum", "mean")


def content_loss(
    generated: Tensor, target: Tensor, *, layer: str | None = None, reduction: str = "sum"
) -> Tensor:
    """L_content = 1/2 sum_ij (F_ij - P_ij)^2 for one layer (Gatys eq. 1), or its mean form.

    ``generated`` (F) and ``target`` (P) are feature maps of the same shape (B, C, H, W); the
    sum runs over every entry, batch included. ``reduction="mean"`` divides by N M = C H W
    (per image, so a batch is still summed): 1 / (2 N M) sum_ij (F_ij - P_ij)^2. The sum grows in
    proportion to M = H W while E_l does not, so with the sum the same alpha / beta weighs style
    less at a larger image size; the mean form keeps both parts size-independent. ``layer`` only
    names the layer in error messages.
    """
    if reduction not in CONTENT_REDUCTIONS:
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}.")
    _check_feature_map(generated, f"The generated features of {_label(layer)}")
    _check_feature_map(target, f"The content target of {_label(layer)}")
    if generated.shape != target.shape:
        raise ValueError(
            f"Content loss at {_label(layer)}: generated features {tuple(generated.shape)} and "
            f"content features {tuple(target.shape)} differ in shape; the generated image and the "
            "content image must have the same size."
        )
    squared = 0.5 * (generated - target).pow(2).sum()
    return squared / generated[0].numel() if reduction == "mean" else squared


def style_layer_loss(generated: Tensor, target: Tensor, *, layer: str | None = None) -> Tensor:
    """E_l = 1 / (4 N_l^2 M_l^2) sum_ij (G_ij - A_ij)^2 for one layer (Gatys eq. 4).

    ``generated`` is the feature map (B, C, H, W) of the image being optimised, so N_l = C and
    M_l = H * W are known; G is its Gram matrix. ``target`` is either the style image's feature
    map at that layer, of the same shape, or its Gram matrix A (B, C, C) computed beforehand with
    ``gram_matrix`` (see ``StyleTargets``). The squared differences are summed over the batch.

    The factor 1 / (4 N^2 M^2) makes E_l a per-entry scale: multiplying the features by s
    multiplies E_l by s^4, while repeating the maps side by side (M doubled, G and A doubled) or
    duplicating every channel (N doubled) leaves E_l unchanged.

    The formula compares Gram matrices summed over the same number of positions, so a feature-map
    target must have the same spatial size as the generated features: resize the style image to
    the size of the content image before extracting its features.
    """
    _check_feature_map(generated, f"The generated features of {_label(layer)}")
    b, n, h, w = generated.shape
    if isinstance(target, Tensor) and target.dim() == 4:
        if target.shape != generated.shape:
            raise ValueError(
                f"Style loss at {_label(layer)}: generated features {tuple(generated.shape)} and "
                f"style features {tuple(target.shape)} differ in shape. Eq. 4 compares Gram "
                "matrices summed over the same M = H * W positions: resize the style image to the "
                "content image's size."
            )
        target = gram_matrix(target)
    elif not isinstance(target, Tensor) or target.dim() != 3:
        shape = tuple(target.shape) if isinstance(target, Tensor) else type(target).__name__
        raise ValueError(
            f"Style target of {_label(layer)} must be a feature map (B, C, H, W) or a Gram matrix "
            f"(B, C, C), got {shape}."
        )
    elif target.shape != (b, n, n):
        raise ValueError(
            f"Style loss at {_label(layer)}: the target Gram matrix has shape "
            f"{tuple(target.shape)}, but generated features {tuple(generated.shape)} need ({b}, "
            f"{n}, {n})."
        )
    m = h * w
    return (gram_matrix(generated) - target).pow(2).sum() / (4.0 * n**2 * m**2)


@dataclass(frozen=True)
class StyleTargets:
    """The style image's Gram matrices A_l, computed once and reused at every step.

    ``grams[l]`` is the (B, C, C) Gram matrix of layer l and ``shapes[l]`` the shape (B, C, H, W)
    of the feature map it came from; ``style_loss`` checks the generated features against it.
    Build it with ``StyleTargets.from_features(extract(style_image, layers))``.
    """

    grams: dict[str, Tensor]
    shapes: dict[str, torch.Size]

    @classmethod
    def from_features(
        cls, features: Mapping[str, Tensor], layers: Sequence[str] | None = None
    ) -> StyleTargets:
        """Gram matrices of ``features`` (all layers, or ``layers``), detached, no gradients."""
        layers = list(features) if layers is None else list(layers)
        if not layers:
            raise ValueError("StyleTargets needs at least one layer.")
        grams, shapes = {}, {}
        for layer in layers:
            if layer not in features:
                raise ValueError(
                    f"No features for style layer {layer!r}; the features have {sorted(features)}."
                )
            _check_feature_map(features[layer], f"The style features of layer {layer!r}")
            with torch.no_grad():
                grams[layer] = gram_matrix(features[layer].detach())
            shapes[layer] = features[layer].shape
        return cls(grams, shapes)

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(self.grams)


def _style_layers(targets: Mapping[str, Tensor] | StyleTargets) -> tuple[str, ...]:
    return targets.layers if isinstance(targets, StyleTargets) else tuple(targets)


def style_loss(
    generated: Mapping[str, Tensor],
    targets: Mapping[str, Tensor] | StyleTargets,
    weights: Mapping[str, float] | None = None,
) -> Tensor:
    """L_style = sum_l w_l E_l (Gatys eq. 5).

    ``generated`` maps layer names to the generated image's feature maps; ``targets`` maps them to
    the style image's feature maps or Gram matrices, or is a ``StyleTargets``. Without ``weights``
    every target layer counts with w_l = 1 / (number of target layers), as in the paper. With
    ``weights`` exactly the layers named there are used (a target layer without a weight is left
    out, so one set of targets serves several layer choices); each must have a target and
    generated features.
    """
    available = _style_layers(targets)
    if weights is None:
        if not available:
            raise ValueError("style_loss needs at least one style layer; the targets are empty.")
        weights = {layer: 1.0 / len(available) for layer in available}
    elif not weights:
        raise ValueError("style_loss needs at least one style layer; the weights are empty.")
    total: Tensor | None = None
    for layer, weight in weights.items():
        if layer not in available:
            raise ValueError(
                f"Style layer {layer!r} has a weight but no target; the targets have "
                f"{list(available)}."
            )
        if layer not in generated:
            raise ValueError(
                f"Style layer {layer!r} is missing from the generated features, which have "
                f"{list(generated)}."
            )
        if isinstance(targets, StyleTargets):
            if generated[layer].shape != targets.shapes[layer]:
                raise ValueError(
                    f"Style loss at layer {layer!r}: generated features "
                    f"{tuple(generated[layer].shape)} and style features "
                    f"{tuple(targets.shapes[layer])} differ in shape. Eq. 4 compares Gram matrices "
                    "summed over the same M = H * W positions: resize the style image to the "
                    "content image's size."
                )
            term = style_layer_loss(generated[layer], targets.grams[layer], layer=layer)
        else:
            term = style_layer_loss(generated[layer], targets[layer], layer=layer)
        total = weight * term if total is None else total + weight * term
    assert total is not None
    return total


class LossParts(NamedTuple):
    """The total loss and its two parts, scalar tensors: ``total = alpha content + beta style``."""

    total: Tensor
    content: Tensor
    style: Tensor


def total_loss(
    generated: Mapping[str, Tensor],
    content_target: Tensor | Mapping[str, Tensor],
    style_targets: Mapping[str, Tensor] | StyleTargets,
    *,
    content_layer: str,
    alpha: float,
    beta: float,
    style_weights: Mapping[str, float] | None = None,
    content_reduction: str = "sum",
) -> LossParts:
    """L_total = alpha L_content + beta L_style (Gatys eq. 7), with both parts.

    ``generated`` holds the generated image's features at ``content_layer`` and at the style
    layers; ``content_target`` is the content image's feature map at ``content_layer`` (or a
    mapping that contains it); ``style_targets`` and ``style_weights`` are as in ``style_loss``;
    ``content_reduction`` is ``content_loss``'s ``reduction``.
    Only the ratio alpha / beta shapes the result (the paper uses 1e-3 and 1e-4); which values
    work depends on the scale of the network's features, so there are no defaults.
    """
    if content_layer not in generated:
        raise ValueError(
            f"Content layer {content_layer!r} is missing from the generated features, which have "
            f"{list(generated)}."
        )
    if isinstance(content_target, Mapping):
        if content_layer not in content_target:
            raise ValueError(
                f"Content layer {content_layer!r} is missing from the content features, which have "
                f"{list(content_target)}."
            )
        content_target = content_target[content_layer]
    content = content_loss(
        generated[content_layer], content_target, layer=content_layer, reduction=content_reduction
    )
    style = style_loss(generated, style_targets, style_weights)
    return LossParts(alpha * content + beta * style, content, style)
