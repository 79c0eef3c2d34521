"""StarGAN's figure at course scale: held-out faces (rows) translated to each target (columns).

Notebook 09 draws it after its own training runs, and ``scripts/long_run_stargan.py`` draws the
same figure after a longer run, so the two can be compared cell by cell.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from course_lib.data.face_domains import target_condition
from course_lib.data.faces import attribute_values
from course_lib.objectives.stargan import StarGAN

BOOK_WIDTH_INCHES = 7.4


def grid_targets() -> list[tuple[str, torch.Tensor]]:
    """(column title, condition (13,)) for the grid: three hair colours, glasses, three
    expressions, and a hair colour with glasses (two attributes at once)."""
    hair, expressions = attribute_values("hair_colour"), attribute_values("expression")
    columns = [
        (f"hair: {value}", target_condition(0, hair_colour=value, glasses="no"))
        for value in hair[:3]
    ]
    columns.append(("glasses", target_condition(0, hair_colour=hair[0], glasses="yes")))
    columns += [(value, target_condition(1, expression=value)) for value in expressions[:3]]
    columns.append(
        (f"{hair[1]} +\nglasses", target_condition(0, hair_colour=hair[1], glasses="yes"))
    )
    return columns


@torch.no_grad()
def translation_grid(
    objective: StarGAN,
    faces: torch.Tensor,
    title: str,
    columns: Sequence[tuple[str, torch.Tensor]] | None = None,
) -> Figure:
    """A figure of ``faces`` (N, 3, S, S) in [0, 1] (rows): the input, then its translation to
    each target of ``columns`` (default ``grid_targets()``), at the book's column width."""
    columns = grid_targets() if columns is None else columns
    device = next(objective.parameters()).device
    panels = {"input": faces}
    for name, condition in columns:
        translated = objective.translate(
            faces.to(device) * 2 - 1, condition.expand(len(faces), -1).to(device)
        )
        panels[name] = ((translated + 1) / 2).clamp(0, 1).cpu()
    fig, axes = plt.subplots(
        len(faces), len(panels), figsize=(BOOK_WIDTH_INCHES, 0.86 * len(faces)), squeeze=False
    )
    for column, (name, images) in enumerate(panels.items()):
        axes[0, column].set_title(name, fontsize=8)
        for row in range(len(faces)):
            axes[row, column].imshow(images[row].permute(1, 2, 0).numpy())  # (S, S, 3)
            axes[row, column].axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
