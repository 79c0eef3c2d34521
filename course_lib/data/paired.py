"""A paired data set for pix2pix, built offline: line drawings of cartoon faces, and the faces.

Each pair is (edge map, face): the face comes from ``course_lib.data.faces.make_faces`` and its
line drawing from ``edge_map`` (Sobel edge strength). The translation edges -> faces has to invent
the colours (skin, hair, background) that a drawing does not show, which is where a pure L1 loss
turns grey and blurry and the adversarial term matters.
"""

from __future__ import annotations

import torch

from course_lib.data.faces import edge_map, make_faces


def edges_to_faces(n: int, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` pairs: edge maps (n, 1, size, size) and faces (n, 3, size, size), float32 in [0, 1].

    Deterministic: the same (n, size, seed) gives the same tensors on every run and machine.
    Use distinct seeds for training and held-out pairs.
    """
    faces = make_faces(n, size, seed).images  # (n, 3, size, size)
    return edge_map(faces), faces


def labelled_edges_to_faces(
    n: int, size: int = 32, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """``edges_to_faces(n, size, seed)`` plus the attribute labels (n,) int64 each face was drawn
    with (``course_lib.data.faces.ATTRIBUTES``), for scoring translations with the attribute judge.
    """
    data = make_faces(n, size, seed)
    return edge_map(data.images), data.images, data.attributes
