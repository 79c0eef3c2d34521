"""Small, labelled figures: image grids, loss curves, 2-D latent scatter plots; the smoke-run mark.

Imports nothing from course_lib, so any notebook or model can use it.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

SMOKE_MARK = "smoke run: numbers and pictures are meaningless"
_SMOKE_HOOK = "course_lib.viz.figures:add_smoke_mark"


def add_smoke_mark(figure: plt.Figure) -> None:
    """Write ``SMOKE_MARK`` above everything else in ``figure`` (a matplotlib figure hook)."""
    figure.text(
        0.5, 1.0, SMOKE_MARK, ha="center", va="bottom", color="crimson", fontsize=9, weight="bold"
    )


def show_profile(settings) -> None:
    """Print the run profile's settings; in the smoke profile, also mark every figure from now on.

    ``settings`` is what ``course_lib.runtime.config.settings_for`` returns. The mark goes in
    through matplotlib's ``figure.hooks``, so every figure made with pyplot carries it, the
    notebook's own included.
    """
    print(settings.describe())
    hooks = [hook for hook in plt.rcParams["figure.hooks"] if hook != _SMOKE_HOOK]
    plt.rcParams["figure.hooks"] = hooks + ([_SMOKE_HOOK] if settings.profile == "smoke" else [])


def image_grid(images: torch.Tensor, nrow: int = 8, padding: int = 1) -> np.ndarray:
    """Tile (B, C, H, W) images in [0, 1] into one (rows*H', nrow*W') or (.., .., 3) array."""
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"Expected images of shape (B, 1 or 3, H, W), got {tuple(images.shape)}.")
    images = images.detach().float().cpu().clamp(0, 1)
    b, c, h, w = images.shape
    ncol = min(nrow, b)
    nrows = -(-b // ncol)  # ceiling division
    grid = torch.ones(c, nrows * (h + padding) - padding, ncol * (w + padding) - padding)
    for i in range(b):
        r, col = divmod(i, ncol)
        grid[
            :,
            r * (h + padding) : r * (h + padding) + h,
            col * (w + padding) : col * (w + padding) + w,
        ] = images[i]
    grid = grid.permute(1, 2, 0).numpy()  # (C, H', W') -> (H', W', C)
    return grid[..., 0] if c == 1 else grid


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """Min-max rescale a whole batch to [0, 1], e.g. to show weights or principal components."""
    low, high = images.min(), images.max()
    return (images - low) / (high - low).clamp_min(1e-12)


# The book's content column is about 7.5 inches at 100 dpi: a wider figure is shrunk to fit, and
# its 9-pt labels with it. Image figures default to at most that width, and to about 0.6 inch
# (60 px) per image where the row is short enough.
BOOK_WIDTH_INCHES = 7.4
IMAGE_INCHES = 0.6


def show_images(
    images: torch.Tensor,
    nrow: int = 8,
    title: str | None = None,
    ax: plt.Axes | None = None,
    scale: float | None = None,
) -> plt.Axes:
    """Show a grid of images (white background lines between them), with an optional title.

    ``scale`` is inches per 29 grid pixels (one MNIST digit with its border); by default the
    grid is as wide as ``IMAGE_INCHES`` per image allows, at most ``BOOK_WIDTH_INCHES``.
    """
    grid = image_grid(images, nrow)
    if ax is None:
        height, width = grid.shape[:2]
        if scale is None:
            columns = min(nrow, len(images))
            scale = min(IMAGE_INCHES * columns, BOOK_WIDTH_INCHES - 0.2) / (width / 29)
        _, ax = plt.subplots(figsize=(scale * width / 29 + 0.2, scale * height / 29 + 0.4))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def show_image_rows(rows: Mapping[str, torch.Tensor], scale: float | None = None) -> plt.Figure:
    """One labelled row per entry, e.g. {"original": x, "reconstruction": x_hat}.

    ``scale`` is inches per image; by default ``IMAGE_INCHES``, less where the rows would be
    wider than ``BOOK_WIDTH_INCHES`` (1.2 inches are kept for the row labels).
    """
    width = max(len(images) for images in rows.values())
    if scale is None:
        scale = min(IMAGE_INCHES, (BOOK_WIDTH_INCHES - 1.2) / width)
    fig, axes = plt.subplots(
        len(rows), 1, figsize=(scale * width + 1.2, scale * len(rows) * 1.15 + 0.2)
    )
    for ax, (label, images) in zip(np.atleast_1d(axes), rows.items()):
        ax.imshow(
            image_grid(images, nrow=width), cmap="gray", vmin=0, vmax=1, interpolation="nearest"
        )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    fig.tight_layout()
    return fig


def plot_history(
    history: Mapping[str, Sequence[float]],
    keys: Sequence[str] | None = None,
    ax: plt.Axes | None = None,
    title: str | None = None,
    ylabel: str = "loss",
    logy: bool = False,
) -> plt.Axes:
    """Per-epoch curves of the chosen history entries (default: every key ending in 'loss')."""
    keys = keys if keys is not None else [k for k in history if k.endswith("loss")]
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 2.8))
    for key in keys:
        values = history[key]
        ax.plot(range(1, len(values) + 1), values, label=key.replace("_", " "))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3)
    return ax


def plot_latent_scatter(
    codes: torch.Tensor,
    labels: torch.Tensor,
    ax: plt.Axes | None = None,
    title: str | None = None,
    max_points: int = 3000,
) -> plt.Axes:
    """Scatter (N, 2) codes coloured by integer label, with a legend of the labels."""
    if codes.dim() != 2 or codes.shape[1] != 2:
        raise ValueError(f"Expected (N, 2) codes, got {tuple(codes.shape)}; reduce to 2-D first.")
    codes, labels = codes[:max_points].detach().cpu(), labels[:max_points].cpu()
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.8))
    cmap = plt.get_cmap("tab10")
    for value in labels.unique().tolist():
        mask = labels == value
        ax.scatter(
            codes[mask, 0], codes[mask, 1], s=3, alpha=0.6, color=cmap(value % 10), label=str(value)
        )
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(markerscale=4, fontsize=9, loc="best", ncol=2, title="label", title_fontsize=9)
    return ax
