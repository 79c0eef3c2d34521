"""Procedural cartoon faces with known attributes: the offline stand-in for the Cartoon Set.

The VAE-restriction paper trained its VAE on Google's Cartoon Set, procedurally drawn faces with
labelled attributes. These faces follow the same idea at course scale: every face is a stack of soft
shapes (ellipses, strokes, rounded boxes) described by signed distances and painted with a one-pixel
anti-aliased edge. A whole batch is drawn at once: each shape is evaluated on coordinate grids for
all faces together, so 10,000 faces take seconds on a CPU.

Attributes (``ATTRIBUTES``) are categorical and returned as int64 labels; nuisance factors
(position, scale, background hue) are continuous and returned as float32. The same labels,
nuisance and size always give the same pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from course_lib.runtime.config import one_cpu_thread

Tensor = torch.Tensor
Labels = dict[str, Tensor]

ATTRIBUTES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "hair_colour": ("black", "blond", "brown", "red", "grey"),
        "expression": ("neutral", "happy", "sad", "angry", "surprised"),
        "glasses": ("no", "yes"),
        "skin_tone": ("pale", "light", "tan", "dark"),
        "face_shape": ("round", "oval", "long"),
        "hair_style": ("short", "long", "curly"),
    }
)
# Continuous factors that are not attributes: uniform ranges. Offsets are fractions of the image
# side (0.05 is about 3 pixels at 64 x 64); the hue picks a pastel background colour.
NUISANCE_RANGES: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "offset_x": (-0.05, 0.05),
        "offset_y": (-0.05, 0.05),
        "scale": (0.9, 1.1),
        "background_hue": (0.0, 1.0),
    }
)
SUPPORTED_SIZES = (32, 64, 128)
# Bump whenever a change to the drawing changes pixels: models cached on these faces (the frozen
# attribute judge) record it and are retrained when it no longer matches.
RENDERER_VERSION = "faces-1"
# Pixels drawn per pass (200 faces at 64 x 64): small passes keep the temporaries in the CPU cache,
# which made rendering 3x faster than 2,000 faces at a time.
RENDER_CHUNK_PIXELS = 200 * 64 * 64

# Colours (RGB in [0, 1]), one row per attribute value.
HAIR_RGB = torch.tensor(
    [
        [0.13, 0.11, 0.11],
        [0.96, 0.82, 0.40],
        [0.46, 0.28, 0.14],
        [0.80, 0.30, 0.10],
        [0.70, 0.70, 0.72],
    ]
)
SKIN_RGB = torch.tensor(
    [[1.00, 0.88, 0.78], [0.93, 0.74, 0.57], [0.76, 0.54, 0.38], [0.52, 0.35, 0.24]]
)
LINE_RGB = torch.tensor([0.10, 0.08, 0.09])
EYE_WHITE_RGB = torch.tensor([1.0, 1.0, 1.0])
MOUTH_RGB = torch.tensor([0.38, 0.06, 0.10])  # dark enough to show on the darkest skin
MOUTH_INSIDE_RGB = torch.tensor([0.30, 0.03, 0.06])

# Layout in face coordinates: origin at the face centre, one unit is half the image side at scale 1
# (y points down). The face centre sits a little below the image centre to leave room for hair.
FACE_CENTRE_Y = 0.06
FACE_SCALE = 1.12  # the layout below, enlarged to fill the frame
FACE_AXES = torch.tensor([[0.48, 0.52], [0.43, 0.57], [0.38, 0.62]])  # (a, b) per face_shape
EYE_X, EYE_Y = 0.18, -0.06
MOUTH_Y = 0.27
# Per expression: eye half-axes, pupil radius, eyebrow height and tilt
# (positive raises the inner ends).
EYE_AXES = torch.tensor([[0.075, 0.09], [0.075, 0.06], [0.075, 0.085], [0.075, 0.08], [0.09, 0.11]])
PUPIL_RADIUS = torch.tensor([0.04, 0.04, 0.04, 0.035, 0.032])
BROW_Y = torch.tensor([-0.255, -0.265, -0.26, -0.235, -0.31])
BROW_TILT = torch.tensor([0.0, 0.0, 0.40, -0.55, 0.0])


@dataclass(frozen=True)
class FaceData:
    """Images (N, 3, S, S) float32 in [0, 1], their attribute labels and nuisance factors."""

    images: Tensor = field(repr=False)
    attributes: dict[str, Tensor] = field(repr=False)
    nuisance: dict[str, Tensor] = field(repr=False)
    size: int

    def __len__(self) -> int:
        return len(self.images)


# ---------------------------------------------------------------------------------------------
# Attribute names, values and validation


def attribute_names() -> tuple[str, ...]:
    return tuple(ATTRIBUTES)


def attribute_values(name: str) -> tuple[str, ...]:
    """The value names of attribute ``name``, in label order."""
    if name not in ATTRIBUTES:
        raise ValueError(f"Unknown attribute {name!r}; valid attributes: {', '.join(ATTRIBUTES)}.")
    return ATTRIBUTES[name]


def attribute_index(name: str, value: str | int) -> int:
    """The label of ``value`` (a value name or an index) for attribute ``name``."""
    values = attribute_values(name)
    if isinstance(value, str):
        if value not in values:
            raise ValueError(
                f"Unknown value {value!r} for attribute {name!r}; valid values: "
                f"{', '.join(values)}."
            )
        return values.index(value)
    is_index = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not (is_index and 0 <= value < len(values)):
        raise ValueError(
            f"Value {value!r} for attribute {name!r} must be one of {', '.join(values)} "
            f"or an index 0..{len(values) - 1}."
        )
    return int(value)


def _check_count(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0:
        raise ValueError(f"The number of faces must be a positive int, got {n!r}.")
    return int(n)


def _check_size(size: int) -> int:
    if size not in SUPPORTED_SIZES or isinstance(size, bool):
        raise ValueError(
            f"Unsupported face image size {size!r}; supported sizes: "
            f"{', '.join(map(str, SUPPORTED_SIZES))}."
        )
    return int(size)


def _check_labels(attributes: Mapping[str, Tensor]) -> Labels:
    """Every attribute present, as int64 (N,) tensors of equal length with valid labels."""
    unknown = set(attributes) - set(ATTRIBUTES)
    missing = [name for name in ATTRIBUTES if name not in attributes]
    if unknown or missing:
        raise ValueError(
            f"Attributes must have exactly the keys {', '.join(ATTRIBUTES)}; missing: "
            f"{', '.join(missing) or 'none'}; unknown: {', '.join(sorted(unknown)) or 'none'}."
        )
    labels = {name: torch.as_tensor(attributes[name]).long().reshape(-1) for name in ATTRIBUTES}
    lengths = {len(t) for t in labels.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(
            f"Attribute tensors must be non-empty and of equal length, got {sorted(lengths)}."
        )
    for name, values in labels.items():
        if values.min() < 0 or values.max() >= len(ATTRIBUTES[name]):
            raise ValueError(
                f"Labels of {name!r} must lie in 0..{len(ATTRIBUTES[name]) - 1} "
                f"({', '.join(ATTRIBUTES[name])}), got "
                f"{values.min().item()}..{values.max().item()}."
            )
    return labels


def _check_nuisance(nuisance: Mapping[str, Tensor], n: int) -> dict[str, Tensor]:
    if set(nuisance) != set(NUISANCE_RANGES):
        raise ValueError(
            f"Nuisance must have exactly the keys {', '.join(NUISANCE_RANGES)}, got "
            f"{', '.join(nuisance)}."
        )
    checked = {
        name: torch.as_tensor(nuisance[name]).float().reshape(-1) for name in NUISANCE_RANGES
    }
    if any(len(t) != n for t in checked.values()):
        raise ValueError(f"Every nuisance tensor must hold {n} values, one per face.")
    return checked


# ---------------------------------------------------------------------------------------------
# Sampling


def _stream(seed: int, stream: int) -> torch.Generator:
    # Attributes use stream 0 and nuisance stream 1 of a seed: they never share random numbers.
    return torch.Generator().manual_seed(2 * int(seed) + stream)


def sample_attributes(
    n: int, seed: int = 0, generator: torch.Generator | None = None, **fixed: str | int
) -> Labels:
    """Uniformly random labels for ``n`` faces; ``fixed`` pins attributes, e.g.
    ``expression="happy"``.

    Every attribute is drawn before the pinned ones are overwritten, so pinning an attribute
    keeps the other attributes of the same seed: the same people, now all happy.
    """
    n = _check_count(n)
    pinned = {name: attribute_index(name, value) for name, value in fixed.items()}
    generator = generator if generator is not None else _stream(seed, 0)
    labels = {
        name: torch.randint(len(values), (n,), generator=generator)
        for name, values in ATTRIBUTES.items()
    }
    for name, index in pinned.items():
        labels[name].fill_(index)
    return labels


def sample_nuisance(
    n: int, seed: int = 0, generator: torch.Generator | None = None
) -> dict[str, Tensor]:
    """Uniformly random position offsets, scales and background hues for ``n`` faces."""
    n = _check_count(n)
    generator = generator if generator is not None else _stream(seed, 1)
    return {
        name: low + (high - low) * torch.rand(n, generator=generator)
        for name, (low, high) in NUISANCE_RANGES.items()
    }


# ---------------------------------------------------------------------------------------------
# Signed distances in face coordinates. ``u`` is (N, 1, 1, W) and ``v`` is (N, 1, H, 1), so terms
# in one coordinate stay cheap and only their combination is a full (N, 1, H, W) tensor.
# Parameters are floats or (N, 1, 1, 1) tensors. Negative inside, positive outside.


def _ellipse(u: Tensor, v: Tensor, cu, cv, a, b) -> Tensor:
    du, dv = (u - cu) / a, (v - cv) / b
    implicit = du.square() + dv.square() - 1.0
    gradient = 2.0 * ((du / a).square() + (dv / b).square()).sqrt()
    return implicit / gradient.clamp_min(1e-3)  # first-order distance to the outline


def _circle(u: Tensor, v: Tensor, cu, cv, radius) -> Tensor:
    return ((u - cu).square() + (v - cv).square()).sqrt() - radius


def _tilted_ellipse(u: Tensor, v: Tensor, cu, cv, a, b, angle: Tensor) -> Tensor:
    cos, sin = angle.cos(), angle.sin()
    du, dv = u - cu, v - cv
    along = du * cos + dv * sin  # (N, 1, H, W)
    across = dv * cos - du * sin
    return _ellipse(along, across, 0.0, 0.0, a, b)


def _curve_stroke(u: Tensor, v: Tensor, cv, half_width, bend, thickness) -> Tensor:
    """A stroke along the parabola v = cv + bend (u / half_width)^2 for |u| <= half_width."""
    curve = cv + bend * (u / half_width).square()  # (N, 1, 1, W)
    slope = 2.0 * bend * u / half_width**2
    across = (v - curve) / (1.0 + slope.square()).sqrt()  # (N, 1, H, W)
    beyond_end = (u.abs() - half_width).clamp_min(0.0)
    return (across.square() + beyond_end.square()).sqrt() - thickness


def _rounded_box(u: Tensor, v: Tensor, cu, cv, half_u, half_v, radius) -> Tensor:
    qu = (u - cu).abs() - half_u + radius  # (N, 1, 1, W)
    qv = (v - cv).abs() - half_v + radius  # (N, 1, H, 1)
    outside = (qu.clamp_min(0.0).square() + qv.clamp_min(0.0).square()).sqrt()
    inside = torch.maximum(qu, qv).clamp_max(0.0)
    return outside + inside - radius


def _below(v: Tensor, curve: Tensor, slope: Tensor) -> Tensor:
    """Distance that is negative above the curve v = curve(u) (smaller v is up)."""
    return (v - curve) / (1.0 + slope.square()).sqrt()


def _below_parabola(u: Tensor, v: Tensor, top, bend, half_width) -> Tensor:
    """``_below`` for the parabola v = top + bend (u / half_width)^2."""
    x = u / half_width
    return _below(v, top + bend * x.square(), 2.0 * bend * x / half_width)


# ---------------------------------------------------------------------------------------------
# Painting


@dataclass
class _Painter:
    """Paints soft shapes onto a batch of images, each face in its own coordinate frame."""

    image: Tensor  # (N, 3, S, S)
    centre_u: Tensor  # (N,) face centre in image coordinates [-1, 1]
    centre_v: Tensor
    scale: Tensor

    def __post_init__(self) -> None:
        size = self.image.shape[-1]
        grid = (torch.arange(size, dtype=torch.float32) * 2.0 + 1.0) / size - 1.0  # pixel centres
        scale = self.scale.view(-1, 1, 1, 1)
        self.u = (
            grid.view(1, 1, 1, size) - self.centre_u.view(-1, 1, 1, 1)
        ) / scale  # (N, 1, 1, S)
        self.v = (
            grid.view(1, 1, size, 1) - self.centre_v.view(-1, 1, 1, 1)
        ) / scale  # (N, 1, S, 1)
        self.pixel = (2.0 / size) / scale  # pixel width in face units, (N, 1, 1, 1)

    def window(self, box: tuple[float, float, float, float]) -> tuple[slice, slice]:
        """Rows and columns that hold the face-coordinate box (u0, u1, v0, v1) for every face."""
        size = self.image.shape[-1]
        u0, u1, v0, v1 = box

        def pixels(centre: Tensor, low: float, high: float) -> slice:
            lowest = ((centre + self.scale * low).min().item() + 1.0) * size / 2.0
            highest = ((centre + self.scale * high).max().item() + 1.0) * size / 2.0
            return slice(max(math.floor(lowest) - 2, 0), min(math.ceil(highest) + 2, size))

        return pixels(self.centre_v, v0, v1), pixels(self.centre_u, u0, u1)

    def paint(
        self,
        distance: Callable[[Tensor, Tensor], Tensor],
        colour: Tensor,
        box: tuple[float, float, float, float],
        mirror: bool = False,
    ) -> None:
        """Blend ``colour`` ((N, 3, 1, 1) or (3,)) where ``distance(u, v)`` < 0, inside ``box``.

        Outside the box the shape's coverage is exactly zero, so only the box is computed.
        ``mirror`` passes |u| to draw a left-right symmetric pair (eyes, ears) in one pass; its box
        must then cover both sides.
        """
        rows, cols = self.window(box)
        u = self.u[..., cols]
        coverage = (
            0.5 - distance(u.abs() if mirror else u, self.v[:, :, rows]) / self.pixel
        ).clamp_(0.0, 1.0)
        region = self.image[:, :, rows, cols]
        region.add_(coverage * (colour.view(-1, 3, 1, 1) - region))  # alpha blending in place


def _column(values: Tensor) -> Tensor:
    return values.view(-1, 1, 1, 1)


def _pastel(hue: Tensor) -> Tensor:
    """HSV (hue, 0.35, 0.95) to RGB, (N,) -> (N, 3)."""
    saturation, value = 0.35, 0.95
    offsets = torch.tensor([5.0, 3.0, 1.0])
    k = (offsets + 6.0 * hue.view(-1, 1)) % 6.0  # (N, 3)
    ramp = torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)
    return value - value * saturation * ramp


# ---------------------------------------------------------------------------------------------
# The face, layer by layer (back to front)


@dataclass
class _Face:
    """Per-face drawing parameters for one chunk, derived from the labels."""

    labels: Labels
    half_width: Tensor  # (N, 1, 1, 1) face half-axes
    half_height: Tensor
    skin: Tensor  # (N, 3)
    hair: Tensor

    @classmethod
    def from_labels(cls, labels: Labels) -> "_Face":
        axes = FACE_AXES[labels["face_shape"]]  # (N, 2)
        return cls(
            labels,
            _column(axes[:, 0]),
            _column(axes[:, 1]),
            SKIN_RGB[labels["skin_tone"]],
            HAIR_RGB[labels["hair_colour"]],
        )

    def has(self, name: str, value: str) -> Tensor:
        return _column(self.labels[name] == attribute_index(name, value))


def _hide_unless(distance: Tensor, selected: Tensor) -> Tensor:
    """Push the shape far outside (coverage 0) on faces that do not have it."""
    return torch.where(selected, distance, torch.full_like(distance, 10.0))


def _draw_back_hair(painter: _Painter, face: _Face) -> None:
    def long_hair(u: Tensor, v: Tensor) -> Tensor:
        panel = _ellipse(u, v, 0.0, 0.02, face.half_width + 0.11, face.half_height + 0.12)
        cut = v - 0.8 * face.half_height  # flat ends near the chin
        return _hide_unless(torch.maximum(panel, cut), face.has("hair_style", "long"))

    painter.paint(long_hair, face.hair, (-0.64, 0.64, -0.80, 0.56))


def _draw_head(painter: _Painter, face: _Face) -> None:
    a, b = face.half_width, face.half_height
    outline = 0.025  # a darker rim of skin around the ears and the face

    def ears(grow: float) -> Callable[[Tensor, Tensor], Tensor]:
        return lambda u, v: _ellipse(u, v, a, 0.0, 0.07 + grow, 0.11 + grow)

    def head(grow: float) -> Callable[[Tensor, Tensor], Tensor]:
        return lambda u, v: _ellipse(u, v, 0.0, 0.0, a + grow, b + grow)

    def nose(u: Tensor, v: Tensor) -> Tensor:
        return _ellipse(u, v, 0.0, 0.09, 0.045, 0.06)

    ear_box = (-0.6, 0.6, -0.16, 0.16)
    painter.paint(ears(outline), face.skin * 0.6, ear_box, mirror=True)
    painter.paint(ears(0.0), face.skin * 0.92, ear_box, mirror=True)
    painter.paint(head(outline), face.skin * 0.6, (-0.52, 0.52, -0.66, 0.66))
    painter.paint(head(0.0), face.skin, (-0.5, 0.5, -0.64, 0.64))
    painter.paint(nose, face.skin * 0.8, (-0.06, 0.06, 0.02, 0.16))


def _draw_eyes(painter: _Painter, face: _Face) -> None:
    axes = EYE_AXES[face.labels["expression"]]  # (N, 2)
    a, b = _column(axes[:, 0]), _column(axes[:, 1])
    box = (-0.30, 0.30, -0.20, 0.08)
    painter.paint(
        lambda u, v: _ellipse(u, v, EYE_X, EYE_Y, a + 0.02, b + 0.02), LINE_RGB, box, mirror=True
    )
    painter.paint(lambda u, v: _ellipse(u, v, EYE_X, EYE_Y, a, b), EYE_WHITE_RGB, box, mirror=True)
    radius = _column(PUPIL_RADIUS[face.labels["expression"]])
    pupil = lambda u, v: _circle(u, v, EYE_X, EYE_Y + 0.01, radius)  # noqa: E731
    painter.paint(pupil, LINE_RGB, box, mirror=True)


def _draw_eyebrows(painter: _Painter, face: _Face) -> None:
    expression = face.labels["expression"]
    height, tilt = _column(BROW_Y[expression]), _column(BROW_TILT[expression])
    brow = lambda u, v: _tilted_ellipse(u, v, EYE_X, height, 0.09, 0.028, tilt)  # noqa: E731
    painter.paint(brow, face.hair * 0.6, (-0.30, 0.30, -0.38, -0.15), mirror=True)


def _draw_mouth(painter: _Painter, face: _Face) -> None:
    def line_mouth(u: Tensor, v: Tensor) -> Tensor:  # neutral: straight; sad: corners down
        sad = face.has("expression", "sad")
        bend = torch.where(sad, 0.09, 0.0)
        stroke = _curve_stroke(u, v, MOUTH_Y - bend / 2, 0.11, bend, 0.026)
        return _hide_unless(stroke, face.has("expression", "neutral") | sad)

    def grin(u: Tensor, v: Tensor) -> Tensor:  # happy: open D-shaped smile, corners up
        upper_lip = _below_parabola(u, v, MOUTH_Y - 0.05, -0.05, 0.16)
        lower_lip = _below_parabola(u, v, MOUTH_Y + 0.08, -0.18, 0.16)
        return _hide_unless(torch.maximum(-upper_lip, lower_lip), face.has("expression", "happy"))

    def teeth(u: Tensor, v: Tensor) -> Tensor:  # a white band under the upper lip
        return torch.maximum(grin(u, v), _below_parabola(u, v, MOUTH_Y - 0.015, -0.05, 0.16))

    def clenched(u: Tensor, v: Tensor) -> Tensor:  # angry: bared teeth in a tight box
        box = _rounded_box(u, v, 0.0, MOUTH_Y + 0.01, 0.12, 0.045, 0.025)
        return _hide_unless(box, face.has("expression", "angry"))

    def open_o(u: Tensor, v: Tensor) -> Tensor:  # surprised
        o = _ellipse(u, v, 0.0, MOUTH_Y + 0.02, 0.065, 0.09)
        return _hide_unless(o, face.has("expression", "surprised"))

    box = (-0.2, 0.2, MOUTH_Y - 0.12, MOUTH_Y + 0.13)
    painter.paint(line_mouth, MOUTH_RGB, box)
    painter.paint(grin, MOUTH_INSIDE_RGB, box)
    painter.paint(teeth, EYE_WHITE_RGB, box)
    painter.paint(lambda u, v: clenched(u, v) - 0.022, MOUTH_RGB, box)
    painter.paint(clenched, EYE_WHITE_RGB, box)
    painter.paint(open_o, MOUTH_INSIDE_RGB, box)


def _draw_hair(painter: _Painter, face: _Face) -> None:
    a, b = face.half_width, face.half_height
    curly = face.has("hair_style", "curly")

    def cap(u: Tensor, v: Tensor) -> Tensor:
        outer = _ellipse(u, v, 0.0, -0.03, a + 0.07, b + 0.07)
        # Curls: a scalloped outline, the outer edge moved out by up to 0.07 in waves across u.
        outer = outer - torch.where(curly, 0.035 + 0.035 * torch.cos(u * 28.0), 0.0)
        # The fringe: flat over the brows, falling steeply to the temples (a quartic in u).
        fringe_top = -0.30 - 0.3 * b
        fringe_drop = -fringe_top / a**4
        fringe = _below(v, fringe_top + fringe_drop * u**4, 4.0 * fringe_drop * u**3)
        beside_the_cheeks = v - 0.2  # sideburns end here
        return torch.maximum(torch.maximum(outer, fringe), beside_the_cheeks)

    painter.paint(cap, face.hair, (-0.66, 0.66, -0.82, 0.2))


def _draw_glasses(painter: _Painter, face: _Face) -> None:
    def frame(u: Tensor, v: Tensor) -> Tensor:  # u is |u|: one rim, half the bridge, one arm
        rim = _circle(u, v, EYE_X, EYE_Y, 0.115).abs() - 0.02
        bridge = torch.maximum((v - EYE_Y + 0.01).abs() - 0.018, u - 0.07)
        arm = torch.maximum(
            (v - EYE_Y + 0.02).abs() - 0.016, torch.maximum(0.29 - u, u - face.half_width)
        )
        return _hide_unless(
            torch.minimum(rim, torch.minimum(bridge, arm)), face.has("glasses", "yes")
        )

    painter.paint(frame, LINE_RGB, (-0.52, 0.52, -0.22, 0.10), mirror=True)


def _draw_chunk(labels: Labels, nuisance: dict[str, Tensor], size: int) -> Tensor:
    n = len(labels["expression"])
    background = _pastel(nuisance["background_hue"])  # (N, 3)
    image = background.view(n, 3, 1, 1).expand(n, 3, size, size).contiguous()  # (N, 3, S, S)
    painter = _Painter(
        image,
        centre_u=2.0 * nuisance["offset_x"],
        centre_v=FACE_CENTRE_Y + 2.0 * nuisance["offset_y"],
        scale=FACE_SCALE * nuisance["scale"],
    )
    face = _Face.from_labels(labels)
    for draw_layer in LAYERS:
        draw_layer(painter, face)
    return image.clamp_(0.0, 1.0)


# Back to front: eyebrows come after the hair so that a low fringe never hides them.
LAYERS = (
    _draw_back_hair,
    _draw_head,
    _draw_eyes,
    _draw_mouth,
    _draw_hair,
    _draw_eyebrows,
    _draw_glasses,
)


# ---------------------------------------------------------------------------------------------
# Public API


def render_faces(
    attributes: Mapping[str, Tensor],
    size: int = 64,
    nuisance: Mapping[str, Tensor] | None = None,
    seed: int = 0,
) -> Tensor:
    """Draw faces with exactly these labels: images (N, 3, size, size) float32 in [0, 1].

    ``nuisance`` (offsets, scale, background hue; see ``NUISANCE_RANGES``) is sampled from
    ``seed`` when None. Size 32 is drawn at 64 and area-averaged, so thin lines stay smooth.
    """
    size = _check_size(size)
    labels = _check_labels(attributes)
    n = len(labels["expression"])
    factors = sample_nuisance(n, seed) if nuisance is None else _check_nuisance(nuisance, n)
    draw_size = 64 if size == 32 else size
    images = torch.empty(n, 3, size, size)
    chunk = max(1, RENDER_CHUNK_PIXELS // draw_size**2)
    with one_cpu_thread():
        for start in range(0, n, chunk):
            part = slice(start, start + chunk)
            drawn = _draw_chunk(
                _rows(labels, part), _rows(factors, part), draw_size
            )  # (chunk, 3, D, D)
            images[part] = F.avg_pool2d(drawn, 2) if size == 32 else drawn
    return images


def _rows(tensors: Mapping[str, Tensor], part: slice) -> dict[str, Tensor]:
    return {name: t[part] for name, t in tensors.items()}


def make_faces(n: int, size: int = 64, seed: int = 0, **fixed: str | int) -> FaceData:
    """``n`` random faces (attributes and nuisance from ``seed``); ``fixed`` pins attributes."""
    size = _check_size(size)
    attributes = sample_attributes(n, seed, **fixed)
    nuisance = sample_nuisance(n, seed)
    return FaceData(render_faces(attributes, size, nuisance), attributes, nuisance, size)


def load_faces(
    train_size: int, test_size: int, size: int = 64, seed: int = 0
) -> tuple[FaceData, FaceData]:
    """A training and a held-out set, drawn with the seeds ``2 seed`` and ``2 seed + 1``."""
    return make_faces(train_size, size, 2 * seed), make_faces(test_size, size, 2 * seed + 1)


def edge_map(images: Tensor) -> Tensor:
    """A line drawing of RGB images (N, 3, S, S): Sobel edge strength (N, 1, S, S) in [0, 1].

    The gradient is taken per colour channel and combined, so a boundary between two colours of
    equal brightness (a pastel background against skin) still shows. Strength is divided by that
    of a sharp step of 0.25 (a clear cartoon outline) and clipped, so lines come out nearly binary.
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"Expected RGB images of shape (N, 3, S, S), got {tuple(images.shape)}.")
    smooth = torch.tensor([1.0, 2.0, 1.0])
    diff = torch.tensor([-1.0, 0.0, 1.0])
    sobel_x = torch.outer(smooth, diff)  # d/du, (3, 3)
    kernels = torch.stack([sobel_x, sobel_x.T]).unsqueeze(1).to(images)  # (2, 1, 3, 3)
    n, _, h, w = images.shape
    channels = F.pad(
        images.reshape(n * 3, 1, h, w), (1, 1, 1, 1), mode="replicate"
    )  # (N*3, 1, S+2, S+2)
    gradients = F.conv2d(channels, kernels).reshape(n, 3 * 2, h, w)  # (N, 6, S, S)
    strength = gradients.square().sum(dim=1, keepdim=True).sqrt()  # (N, 1, S, S)
    sharp_step = 4.0 * 0.25
    return (strength / sharp_step).clamp_(0.0, 1.0)
