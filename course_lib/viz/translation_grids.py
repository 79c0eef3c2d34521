"""StarGAN's figure at course scale: held-out faces (rows) translated to each target (columns).

Each column changes one thing where it can: a hair-colour column keeps each face's own glasses,
the glasses column keeps each face's own hair colour (so a data-set-0 request, which must name
both, asks for one change), the expression columns ask for an expression, and the last column
asks for two changes at once. Notebook 09 draws it after its own training runs, and
``scripts/long_run_stargan.py`` draws the same figure after a longer run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from course_lib.data.face_domains import target_condition
from course_lib.data.faces import attribute_values
from course_lib.objectives.stargan import StarGAN

BOOK_WIDTH_INCHES = 7.4
Labels = Mapping[str, torch.Tensor]


def grid_targets() -> list[tuple[str, Callable[[int, int], torch.Tensor]]]:
    """(column title, (hair index, glasses 0/1) of a face -> its condition (13,)) per column:
    three hair colours (own glasses), glasses on (own hair colour), three expressions, and
    blond hair with glasses (two changes at once)."""
    hair, expressions = attribute_values("hair_colour"), attribute_values("expression")
    columns: list[tuple[str, Callable[[int, int], torch.Tensor]]] = [
        (
            f"hair: {value}",
            lambda _, glasses, value=value: target_condition(0, hair_colour=value, glasses=glasses),
        )
        for value in hair[:3]
    ]
    columns.append(
        ("glasses on", lambda own_hair, _: target_condition(0, hair_colour=own_hair, glasses=1))
    )
    columns += [
        (value, lambda *_, value=value: target_condition(1, expression=value))
        for value in expressions[:3]
    ]
    columns.append(
        (
            f"{hair[1]} +\nglasses",
            lambda *_: target_condition(0, hair_colour=hair[1], glasses=1),
        )
    )
    return columns


@torch.no_grad()
def translation_grid(
    objective: StarGAN, faces: torch.Tensor, attributes: Labels, title: str
) -> Figure:
    """A figure of ``faces`` (N, 3, S, S) in [0, 1] (rows) with their true ``attributes``
    (name -> (N,) labels): the input, then its translation to each column of ``grid_targets``,
    at the book's column width."""
    device = next(objective.parameters()).device
    panels = {"input": faces}
    for name, condition_of in grid_targets():
        conditions = torch.stack(
            [
                condition_of(int(hair), int(glasses))
                for hair, glasses in zip(attributes["hair_colour"], attributes["glasses"])
            ]
        )  # (N, 13)
        translated = objective.translate(faces.to(device) * 2 - 1, conditions.to(device))
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
