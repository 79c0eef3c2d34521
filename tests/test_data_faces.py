"""Procedural cartoon faces: shapes, determinism, validation, what each attribute draws, edge maps.

Pixel regions are derived from the face layout constants in ``course_lib.data.faces`` with the
face centred at scale 1 (``CENTRED`` nuisance), so a test looks where a feature must be.
"""

from __future__ import annotations

import pytest
import torch

from course_lib.data import faces
from course_lib.data.faces import (
    ATTRIBUTES,
    FaceData,
    attribute_values,
    edge_map,
    load_faces,
    make_faces,
    render_faces,
    sample_attributes,
    sample_nuisance,
)

SIZE = 64


def centred(n: int, **changes: float) -> dict[str, torch.Tensor]:
    """Nuisance with every face centred at scale 1 on the same background, except ``changes``."""
    values = {"offset_x": 0.0, "offset_y": 0.0, "scale": 1.0, "background_hue": 0.6, **changes}
    return {name: torch.full((n,), value) for name, value in values.items()}


def with_value(labels: dict[str, torch.Tensor], name: str, value: str) -> dict[str, torch.Tensor]:
    changed = {key: t.clone() for key, t in labels.items()}
    changed[name].fill_(attribute_values(name).index(value))
    return changed


def rows_of(v0: float, v1: float, size: int = SIZE) -> slice:
    """Pixel rows whose centres lie between face coordinates v0 and v1 (centred face, scale 1)."""

    def to_pixel(v: float) -> float:
        return (faces.FACE_CENTRE_Y + faces.FACE_SCALE * v + 1.0) * size / 2.0 - 0.5

    return slice(
        int(torch.tensor(to_pixel(v0)).ceil()), int(torch.tensor(to_pixel(v1)).floor()) + 1
    )


def cols_of(u0: float, u1: float, size: int = SIZE) -> slice:
    to_pixel = lambda u: (faces.FACE_SCALE * u + 1.0) * size / 2.0 - 0.5  # noqa: E731
    return slice(
        int(torch.tensor(to_pixel(u0)).ceil()), int(torch.tensor(to_pixel(u1)).floor()) + 1
    )


# ---------------------------------------------------------------------------------------------
# Shapes, types, determinism


@pytest.mark.parametrize("size", [32, 64])
def test_face_data_shapes_types_and_range(size):
    data = make_faces(6, size=size, seed=3)
    assert isinstance(data, FaceData) and data.size == size and len(data) == 6
    assert data.images.shape == (6, 3, size, size) and data.images.dtype == torch.float32
    assert 0.0 <= data.images.min() and data.images.max() <= 1.0
    assert list(data.attributes) == list(ATTRIBUTES)
    for name, labels in data.attributes.items():
        assert labels.dtype == torch.int64 and labels.shape == (6,)
        assert 0 <= labels.min() and labels.max() < len(ATTRIBUTES[name])
    assert set(data.nuisance) == set(faces.NUISANCE_RANGES)
    for name, values in data.nuisance.items():
        low, high = faces.NUISANCE_RANGES[name]
        assert values.dtype == torch.float32 and values.shape == (6,)
        assert low <= values.min() and values.max() <= high


def test_size_32_is_the_area_average_of_size_64():
    labels, nuisance = sample_attributes(4, seed=1), sample_nuisance(4, seed=1)
    large = render_faces(labels, 64, nuisance)
    small = render_faces(labels, 32, nuisance)
    torch.testing.assert_close(small, torch.nn.functional.avg_pool2d(large, 2))


def test_same_seed_gives_identical_pixels_and_another_seed_differs():
    first, again, other = make_faces(8, seed=5), make_faces(8, seed=5), make_faces(8, seed=6)
    assert torch.equal(first.images, again.images)
    assert all(torch.equal(first.attributes[k], again.attributes[k]) for k in ATTRIBUTES)
    assert (first.images - other.images).abs().mean() > 0.05


def test_render_faces_redraws_make_faces_exactly():
    data = make_faces(5, seed=2)
    assert torch.equal(render_faces(data.attributes, SIZE, data.nuisance), data.images)
    # Without nuisance, render_faces samples it from its seed the same way make_faces does.
    assert torch.equal(render_faces(data.attributes, SIZE, seed=2), data.images)


def test_a_face_does_not_depend_on_the_other_faces_in_its_batch():
    data = make_faces(40, seed=4)  # a batch with many face positions, scales and styles
    alone = render_faces(
        {k: t[7:8] for k, t in data.attributes.items()},
        SIZE,
        {k: t[7:8] for k, t in data.nuisance.items()},
    )
    torch.testing.assert_close(alone[0], data.images[7], atol=1e-6, rtol=0)


def test_drawing_only_inside_each_shapes_window_changes_nothing(monkeypatch):
    # The renderer evaluates each shape only inside a box; drawing on the whole canvas instead
    # must give the same faces, which fails if a box cuts a shape off.
    data = make_faces(60, seed=9)
    everywhere = lambda painter, box: (slice(None), slice(None))  # noqa: E731
    monkeypatch.setattr(faces._Painter, "window", everywhere)
    full = render_faces(data.attributes, SIZE, data.nuisance)
    torch.testing.assert_close(full, data.images, atol=1e-6, rtol=0)


def test_load_faces_gives_disjoint_train_and_test_sets():
    train, test = load_faces(40, 15, size=32, seed=0)
    assert (len(train), len(test)) == (40, 15) and train.size == test.size == 32
    distances = torch.cdist(train.images.flatten(1), test.images.flatten(1))  # (40, 15)
    assert distances.min() > 1.0
    again, _ = load_faces(40, 15, size=32, seed=0)
    assert torch.equal(again.images, train.images)


# ---------------------------------------------------------------------------------------------
# Sampling and validation


def test_fixed_attributes_are_pinned_by_name_or_index_and_keep_the_same_people():
    free = make_faces(12, seed=8)
    pinned = make_faces(12, seed=8, expression="happy", glasses=1)
    assert (pinned.attributes["expression"] == 1).all()
    assert (pinned.attributes["glasses"] == 1).all()
    for name in ("hair_colour", "skin_tone", "face_shape", "hair_style"):
        assert torch.equal(pinned.attributes[name], free.attributes[name])
    assert all(torch.equal(pinned.nuisance[k], free.nuisance[k]) for k in faces.NUISANCE_RANGES)


def test_sampled_labels_cover_every_value_about_uniformly():
    labels = sample_attributes(6000, seed=0)
    for name, values in ATTRIBUTES.items():
        counts = torch.bincount(labels[name], minlength=len(values)).float()
        expected = 6000 / len(values)
        assert ((counts - expected).abs() < 0.12 * expected).all(), (name, counts)


def test_sample_attributes_uses_a_given_generator():
    first = sample_attributes(10, generator=torch.Generator().manual_seed(11))
    second = sample_attributes(10, seed=999, generator=torch.Generator().manual_seed(11))
    assert all(torch.equal(first[k], second[k]) for k in ATTRIBUTES)


def test_unknown_attribute_name_lists_the_valid_names():
    with pytest.raises(ValueError, match="hair_colour, expression, glasses, skin_tone, face_shape"):
        make_faces(2, moustache="yes")


def test_unknown_attribute_value_lists_the_valid_values():
    with pytest.raises(ValueError, match="black, blond, brown, red, grey"):
        sample_attributes(2, hair_colour="green")
    with pytest.raises(ValueError, match=r"index 0\.\.1"):
        sample_attributes(2, glasses=2)


@pytest.mark.parametrize("size", [48, 0, 256, True])
def test_unsupported_size_names_the_supported_sizes(size):
    with pytest.raises(ValueError, match="supported sizes: 32, 64, 128"):
        make_faces(2, size=size)


@pytest.mark.parametrize("n", [0, -3, 2.5])
def test_face_count_must_be_positive(n):
    with pytest.raises(ValueError, match="positive int"):
        make_faces(n)


def test_render_faces_rejects_missing_attributes_and_out_of_range_labels():
    labels = sample_attributes(3)
    without = {k: t for k, t in labels.items() if k != "glasses"}
    with pytest.raises(ValueError, match="missing: glasses"):
        render_faces(without)
    broken = {**labels, "skin_tone": torch.tensor([0, 4, 1])}
    with pytest.raises(ValueError, match="skin_tone.*0..3"):
        render_faces(broken)
    with pytest.raises(ValueError, match="offset_x"):
        render_faces(labels, nuisance={"scale": torch.ones(3)})


# ---------------------------------------------------------------------------------------------
# Attributes draw what they say, where they should


def test_hair_colour_paints_the_top_of_the_head_in_that_colour():
    labels = sample_attributes(10, seed=1)
    top = (
        slice(None),
        slice(None),
        rows_of(-0.58, -0.50),
        cols_of(-0.15, 0.15),
    )  # above the fringe
    means = []
    for index, colour in enumerate(ATTRIBUTES["hair_colour"]):
        images = render_faces(with_value(labels, "hair_colour", colour), SIZE, centred(10))
        region = images[top]  # (10, 3, rows, cols)
        assert region.numel() >= 10 * 3 * 3 * 9
        mean = region.mean(dim=(0, 2, 3))
        torch.testing.assert_close(mean, faces.HAIR_RGB[index], atol=0.02, rtol=0)
        means.append(mean)
    means = torch.stack(means)
    assert torch.cdist(means, means).add(torch.eye(5)).min() > 0.1  # every colour distinct


def test_skin_tone_colours_the_cheeks():
    labels = sample_attributes(8, seed=9)
    cheek = (
        slice(None),
        slice(None),
        rows_of(0.12, 0.2),
        cols_of(0.25, 0.3),
    )  # between eye, nose and mouth
    for index, tone in enumerate(ATTRIBUTES["skin_tone"]):
        images = render_faces(with_value(labels, "skin_tone", tone), SIZE, centred(8))
        torch.testing.assert_close(
            images[cheek].mean(dim=(0, 2, 3)), faces.SKIN_RGB[index], atol=1e-5, rtol=0
        )


def test_glasses_add_dark_pixels_around_the_eyes_and_nowhere_else():
    labels = sample_attributes(10, seed=2)
    without = render_faces(with_value(labels, "glasses", "no"), SIZE, centred(10))
    with_glasses = render_faces(with_value(labels, "glasses", "yes"), SIZE, centred(10))
    eye_band = rows_of(-0.20, 0.08)
    dark = lambda images: (images.mean(dim=1) < 0.2)[:, eye_band].sum(dim=(1, 2))  # noqa: E731
    assert (dark(with_glasses) - dark(without) > 40).all()
    changed_rows = (
        (with_glasses != without).any(dim=1).any(dim=2).any(dim=0).nonzero().flatten()
    )  # (rows,)
    assert eye_band.start - 1 <= changed_rows.min() and changed_rows.max() <= eye_band.stop


def test_every_expression_draws_a_different_mouth_and_leaves_the_chin_alone():
    labels = sample_attributes(6, seed=3)
    mouth = (
        slice(None),
        slice(None),
        rows_of(faces.MOUTH_Y - 0.12, faces.MOUTH_Y + 0.13),
        cols_of(-0.2, 0.2),
    )
    chin = (slice(None), slice(None), rows_of(faces.MOUTH_Y + 0.18, 0.8), slice(None))
    drawn = {
        value: render_faces(with_value(labels, "expression", value), SIZE, centred(6))
        for value in ATTRIBUTES["expression"]
    }
    for first in ATTRIBUTES["expression"]:
        for second in ATTRIBUTES["expression"]:
            if first < second:
                difference = (
                    (drawn[first][mouth] - drawn[second][mouth]).abs().mean(dim=(1, 2, 3))
                )  # (6,)
                assert (difference > 0.02).all(), (first, second, difference)
                assert torch.equal(drawn[first][chin], drawn[second][chin])


def test_expressions_move_the_eyebrows():
    labels = sample_attributes(6, seed=4, hair_style="short")
    brows = (slice(None), slice(None), rows_of(-0.36, -0.18), cols_of(-0.3, 0.3))
    neutral = render_faces(with_value(labels, "expression", "neutral"), SIZE, centred(6))
    for value in ("sad", "angry", "surprised"):
        other = render_faces(with_value(labels, "expression", value), SIZE, centred(6))
        assert ((other[brows] - neutral[brows]).abs().mean(dim=(1, 2, 3)) > 0.01).all(), value


def _foreground(images: torch.Tensor) -> torch.Tensor:
    """(N, S, S) mask of pixels that differ from the background (the top-left corner colour)."""
    return (images - images[:, :, :1, :1]).abs().amax(dim=1) > 0.02


def _centre_of_mass(mask: torch.Tensor) -> torch.Tensor:
    """(N, 2) mean (row, column) of the True pixels of (N, S, S) masks."""
    rows, cols = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    weights = mask.float()
    total = weights.sum(dim=(1, 2))
    return torch.stack(
        [(weights * rows).sum(dim=(1, 2)) / total, (weights * cols).sum(dim=(1, 2)) / total], 1
    )


@pytest.mark.parametrize("axis, name", [(1, "offset_x"), (0, "offset_y")])
def test_offsets_shift_the_face_by_the_stated_fraction_of_the_image(axis, name):
    labels = sample_attributes(5, seed=6)
    left = _centre_of_mass(_foreground(render_faces(labels, SIZE, centred(5, **{name: -0.04}))))
    right = _centre_of_mass(_foreground(render_faces(labels, SIZE, centred(5, **{name: 0.04}))))
    shift = right - left  # (5, 2)
    torch.testing.assert_close(shift[:, axis], torch.full((5,), 0.08 * SIZE), atol=0.5, rtol=0)
    assert shift[:, 1 - axis].abs().max() < 0.5


def test_scale_grows_the_face_area_by_its_square():
    labels = sample_attributes(5, seed=7)
    small = _foreground(render_faces(labels, SIZE, centred(5, scale=0.9))).sum(dim=(1, 2)).float()
    large = _foreground(render_faces(labels, SIZE, centred(5, scale=1.1))).sum(dim=(1, 2)).float()
    torch.testing.assert_close(large / small, torch.full((5,), (1.1 / 0.9) ** 2), atol=0.06, rtol=0)


# ---------------------------------------------------------------------------------------------
# Edge maps


@pytest.mark.parametrize("size", [32, 64])
def test_edge_map_shape_and_range(size):
    edges = edge_map(make_faces(4, size=size).images)
    assert edges.shape == (4, 1, size, size) and edges.dtype == torch.float32
    assert edges.min() >= 0.0 and edges.max() <= 1.0 and edges.max() == 1.0


def test_edge_map_marks_only_the_columns_of_a_step():
    images = torch.zeros(1, 3, 16, 16)
    images[..., 8:] = 0.5  # a vertical step between columns 7 and 8
    edges = edge_map(images)[0, 0]
    assert (edges[:, 7:9] == 1.0).all()
    assert (edges[:, :7] == 0).all() and (edges[:, 9:] == 0).all()
    assert (edge_map(torch.full((2, 3, 16, 16), 0.3)) == 0).all()


def test_edge_map_sees_a_colour_boundary_of_equal_brightness():
    images = torch.zeros(1, 3, 8, 8)
    images[:, 0, :, :4] = 0.6  # red on the left, green of the same mean on the right
    images[:, 1, :, 4:] = 0.6
    assert edge_map(images)[0, 0, :, 3:5].min() > 0.5


def test_edge_map_is_strong_on_the_face_outline_and_weak_inside_the_cheeks():
    labels = sample_attributes(6, seed=5, face_shape="round", hair_style="short")
    edges = edge_map(render_faces(labels, SIZE, centred(6)))[:, 0]  # (6, S, S)
    a, b = faces.FACE_AXES[0].tolist()
    grid = (torch.arange(SIZE) + 0.5) * 2 / SIZE - 1  # pixel centres
    u = grid.view(1, SIZE) / faces.FACE_SCALE
    v = (grid.view(SIZE, 1) - faces.FACE_CENTRE_Y) / faces.FACE_SCALE
    radius = ((u / a).square() + (v / b).square()).sqrt()  # 1 on the outline
    pixel = 2 / SIZE / faces.FACE_SCALE / a
    lower_outline = ((radius - 1).abs() < 1.5 * pixel) & (v > 0.15) & (v < b * 0.9)
    cheeks = (u.abs() > 0.25) & (u.abs() < 0.33) & (v > 0.12) & (v < 0.2) & (radius < 0.8)
    assert lower_outline.sum() > 20 and cheeks.sum() > 4
    assert (edges[:, lower_outline].mean(dim=1) > 0.6).all()
    assert (edges[:, cheeks].mean(dim=1) < 0.05).all()


def test_edge_map_rejects_non_rgb_input():
    with pytest.raises(ValueError, match=r"\(N, 3, S, S\)"):
        edge_map(torch.zeros(2, 1, 8, 8))


def test_rendering_runs_on_one_thread_and_restores_the_callers_thread_count(monkeypatch):
    seen = []
    draw = faces._draw_chunk
    monkeypatch.setattr(
        faces, "_draw_chunk", lambda *args: seen.append(torch.get_num_threads()) or draw(*args)
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        make_faces(3)
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
