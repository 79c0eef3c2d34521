"""Neural style transfer by optimising the pixels of an image (Gatys et al. 2016, section 2).

The network is fixed; the only variable is the generated image x, a (1, 3, H, W) tensor with
``requires_grad``. Each step extracts x's features, evaluates
L_total = alpha L_content + beta L_style (``course_lib.losses.style``) and moves x against the
gradient. The content and style targets are extracted once, before the first step, without
gradients.

Any feature extractor works that is a callable
``extract(images, layers) -> {layer: (B, C, H, W)}``, such as the VGG-19 extractor of
``course_lib.models.vgg_features``. Gradients are taken with respect to the image only
(``torch.autograd.grad``), so the extractor's own parameters never receive a ``.grad``, whether
or not they require one.

The image is kept in [0, 1] by clamping it after every update (a projection back onto the box
of valid images; the paper does not discuss the range). L-BFGS's line search may try points
outside the box between updates; the loss of a point x is always that of the valid image
clamp(x, 0, 1), with the gradient of that function (zero for the pixels outside, as autograd
gives through a clamp, and also zero for a pixel on a bound that descent would push further
out), so every image evaluated is valid and the line search sees the function actually
optimised. For L-BFGS, the step that the optimiser remembers is then replaced by the
step actually taken, so that its curvature pairs stay consistent with the clamped image
(``_remember_clamped_step`` explains why this needs the optimiser's internal state).

``transfer`` reads as: check the settings, extract the targets once (``_targets``), build the
objective (``_objective``) and the closure that evaluates it at the clamped image
(``_ClampedClosure``, which also keeps the budget and records the trajectory in
``_Trajectory``), then update until a stopping rule fires (``_optimise``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Literal, Mapping, Sequence

import torch
from torch import Tensor

from course_lib.losses.style import LossParts, StyleTargets, total_loss
from course_lib.training.steps import NonFiniteLossError
from course_lib.training.steps import progress as progress_bar

Extractor = Callable[[Tensor, Sequence[str]], Mapping[str, Tensor]]
Callback = Callable[[int, Tensor, dict[str, float]], None]

DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}
"""Default learning rates. For L-BFGS lr is the first step length its line search tries along the
quasi-Newton direction, whose natural length is 1; for Adam it is about the change of each pixel
per update, 0.02 = 2% of the [0, 1] range."""

STOP_REASONS = ("steps", "time", "converged")

_MAX_EVALS_PER_UPDATE = 20  # at most this many evaluations in one L-BFGS line search


@dataclass
class TransferResult:
    """What ``transfer`` returns.

    - ``image``: the generated image (1, 3, H, W) in [0, 1], detached, after the last update.
    - ``history``: one entry per loss evaluation under ``"total"``, ``"content"`` (L_content,
      before the factor alpha), ``"style"`` (L_style, before beta) and ``"seconds"`` (elapsed
      since the call began). With Adam, evaluation i is of the image after i updates; with
      L-BFGS the evaluations include the trial points of its line search, so the history can
      go up and down within one update.
    - ``losses``: the same three losses for the returned ``image`` (one extra evaluation without
      gradients, not counted as a step).
    - ``steps``: loss evaluations with gradients (forward and backward passes) done;
      ``updates``: updates of the image kept; ``seconds``: wall-clock time of the whole call.
    - ``stop_reason``: ``"steps"`` (the evaluations ran out), ``"time"`` (``max_seconds`` ran
      out) or ``"converged"`` (an L-BFGS update, even with its memory reset, left the image
      unchanged).
    """

    image: Tensor
    history: dict[str, list[float]] = field(default_factory=dict)
    losses: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    updates: int = 0
    seconds: float = 0.0
    stop_reason: str = "steps"


class _Stop(Exception):
    """Raised inside the closure when the evaluations or the time run out."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def transfer(
    extract: Extractor,
    content: Tensor,
    style: Tensor,
    *,
    content_layer: str,
    style_layers: Sequence[str] | Mapping[str, float],
    alpha: float,
    beta: float,
    init: Literal["content", "noise"] | Tensor = "content",
    optimizer: Literal["lbfgs", "adam"] = "lbfgs",
    steps: int = 300,
    max_seconds: float | None = None,
    lr: float | None = None,
    seed: int = 0,
    progress: bool = True,
    callback: Callback | None = None,
    content_reduction: str = "sum",
) -> TransferResult:
    """Generate an image with the content of ``content`` and the style of ``style``.

    ``content`` and ``style`` are (1, 3, H, W) images in [0, 1]; the style image must have the
    content image's height and width (resize it first; see ``style_layer_loss``). The loss is
    alpha L_content at ``content_layer`` plus beta L_style over ``style_layers``: a list of layer
    names (equal weights w_l = 1 / number of layers) or a mapping from layer name to w_l.
    ``content_reduction="mean"`` uses the size-independent mean form of the content loss (see
    ``content_loss``); the default ``"sum"`` is Gatys et al.'s eq. 1.

    ``init`` chooses the starting image: ``"content"`` (a copy of the content image),
    ``"noise"`` (uniform noise in [0, 1], drawn from a generator seeded with ``seed``, so the
    same seed gives the same start) or a tensor of the content image's shape (clamped to [0, 1]).

    ``optimizer``: ``"lbfgs"`` (``torch.optim.LBFGS`` with a strong-Wolfe line search, one
    iteration per ``step`` call, so the image is clamped after every update while the memory of
    past steps is kept) or ``"adam"``. ``lr`` defaults to ``DEFAULT_LR``.

    ``steps`` counts loss evaluations (each one forward and one backward pass through the
    extractor, the unit of cost): Adam makes one per update, L-BFGS one or more (its line search
    may try several step lengths). The run stops when ``steps`` evaluations are done or, with
    ``max_seconds``, when that many seconds have passed since the call began, whichever comes
    first; both are checked before every evaluation, so the time can overrun by one evaluation
    (plus the final one). An L-BFGS update cut short that way is discarded: the image returned
    is the last one accepted.

    ``callback(step, image, losses)``, if given, is called at every evaluation with the number of
    evaluations before it, a copy of the image evaluated and its losses as a dict of floats
    (``"total"``, ``"content"``, ``"style"``): step 0 shows the initial image; with L-BFGS an
    image evaluated may be a trial of its line search that is not kept. ``progress`` shows
    a progress bar over the evaluations (hidden anyway when ``COURSE_PROGRESS=off``). A NaN or
    infinite loss raises ``NonFiniteLossError``.
    """
    lr = _checked_settings(optimizer, steps, max_seconds, lr)
    _check_image(content, "content")
    _check_image(style, "style")
    _check_same_shape(style, content)
    weights = _style_weights(style_layers)
    began = time.perf_counter()
    content = content.detach()
    losses_of = _objective(
        extract,
        _targets(extract, content, style.detach().to(content.device), content_layer, weights),
        alpha=alpha,
        beta=beta,
        content_reduction=content_reduction,
    )
    image = _initial_image(init, content, seed).requires_grad_(True)
    record = _Trajectory(began, callback, progress, steps)
    closure = _ClampedClosure(image, losses_of, record, steps, max_seconds)
    stop_reason, updates = _optimise(image, closure, optimizer, lr)
    record.close()
    with torch.no_grad():
        final = losses_of(image.detach())
    return TransferResult(
        image=image.detach(),
        history=record.history,
        losses={name: float(value) for name, value in final._asdict().items()},
        steps=len(record.history["total"]),
        updates=updates,
        seconds=time.perf_counter() - began,
        stop_reason=stop_reason,
    )


def _optimise(
    image: Tensor, closure: Callable[[], Tensor], optimizer: str, lr: float
) -> tuple[str, int]:
    """Update ``image`` in place until the closure stops it or L-BFGS converges.

    Returns the stop reason and the number of updates kept. Every update is followed by the
    projection back onto [0, 1]; an update cut short by the closure is undone.
    """
    opt, fresh, updates = _make_optimizer(optimizer, image, lr), True, 0
    while True:
        before = image.detach().clone()
        try:
            _step(opt, closure, optimizer)
        except _Stop as stop:
            with torch.no_grad():
                image.copy_(before)  # drop an update that was cut short
            return stop.reason, updates
        with torch.no_grad():
            image.clamp_(0.0, 1.0)
        if optimizer == "adam":
            updates += 1
        elif not torch.equal(image.detach(), before):
            updates += 1
            _remember_clamped_step(opt, image, before)
            fresh = False
        elif fresh:
            # L-BFGS stood still with an empty memory, i.e. along steepest descent: the image is
            # a fixed point of the clamped iteration.
            return "converged", updates
        else:
            # L-BFGS stood still: a zero gradient, a failed line search, or a memory distorted by
            # clamping that proposes no descent direction. Start once more from steepest descent.
            opt, fresh = _make_optimizer(optimizer, image, lr), True


def _step(opt: torch.optim.Optimizer, closure: Callable[[], Tensor], optimizer: str) -> None:
    """One update: L-BFGS calls the closure itself (its line search may call it again)."""
    if optimizer == "lbfgs":
        opt.step(closure)
    else:
        closure()
        opt.step()


class _ClampedClosure:
    """The closure the optimisers call: the loss at clamp(image), its gradient in ``image.grad``.

    It also enforces the budget (``_Stop`` before an evaluation beyond ``steps`` or after
    ``max_seconds``) and hands every new evaluation to the trajectory record.
    """

    def __init__(
        self,
        image: Tensor,
        losses_of: Callable[[Tensor], LossParts],
        record: _Trajectory,
        steps: int,
        max_seconds: float | None,
    ):
        self.image, self.losses_of, self.record = image, losses_of, record
        self.steps, self.max_seconds = steps, max_seconds
        # (valid image, gradient, loss) of the last evaluation
        self.last: tuple[Tensor, Tensor, Tensor] | None = None

    def __call__(self) -> Tensor:
        image = self.image
        valid = image.detach().clamp(0.0, 1.0)
        if self.last is not None and torch.equal(valid, self.last[0]):
            # L-BFGS starts each update by evaluating the point its line search ended on, which
            # clamping leaves unchanged or moves only to where the loss is the same: no new cost.
            image.grad = _projected(self.last[1], image.detach())
            return self.last[2]
        self._check_budget()
        valid.requires_grad_(True)
        parts = self.losses_of(valid)
        _check_finite(parts, self.record.evaluations)
        self.record.add(parts, valid)
        (gradient,) = torch.autograd.grad(parts.total, valid)
        image.grad = _projected(gradient, image.detach())
        self.last = (valid.detach(), gradient, parts.total.detach())
        self.record.show_progress()
        return parts.total.detach()

    def _check_budget(self) -> None:
        if self.record.evaluations >= self.steps:
            raise _Stop("steps")
        if self.max_seconds is not None and self.record.elapsed() >= self.max_seconds:
            raise _Stop("time")


class _Trajectory:
    """The record of every loss evaluation: the history, the callback and the progress bar."""

    def __init__(self, began: float, callback: Callback | None, progress: bool, steps: int):
        self.began, self.callback = began, callback
        self.history: dict[str, list[float]] = {
            "total": [],
            "content": [],
            "style": [],
            "seconds": [],
        }
        self.bar = (
            progress_bar(None, total=steps, desc="style transfer", unit="eval")
            if progress
            else None
        )
        self.values: dict[str, float] = {}

    @property
    def evaluations(self) -> int:
        return len(self.history["total"])

    def elapsed(self) -> float:
        return time.perf_counter() - self.began

    def add(self, parts: LossParts, image: Tensor) -> None:
        """Append the losses of ``image`` and show them to the callback."""
        self.values = {name: float(value.detach()) for name, value in parts._asdict().items()}
        for name, value in self.values.items():
            self.history[name].append(value)
        self.history["seconds"].append(self.elapsed())
        if self.callback is not None:
            self.callback(self.evaluations - 1, image.detach().clone(), self.values)

    def show_progress(self) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{self.values['total']:.4g}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _checked_settings(
    optimizer: str, steps: int, max_seconds: float | None, lr: float | None
) -> float:
    """Check the optimiser settings and return the learning rate (``DEFAULT_LR`` if None)."""
    if optimizer not in DEFAULT_LR:
        raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}.")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}.")
    if max_seconds is not None and max_seconds < 0:
        raise ValueError(f"max_seconds must be >= 0 or None, got {max_seconds}.")
    lr = DEFAULT_LR[optimizer] if lr is None else lr
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr}.")
    return lr


def _check_same_shape(style: Tensor, content: Tensor) -> None:
    if style.shape != content.shape:
        raise ValueError(
            f"The style image {tuple(style.shape)} must have the content image's shape "
            f"{tuple(content.shape)}: resize it (for example with "
            "torch.nn.functional.interpolate) before the transfer."
        )


def _style_weights(style_layers: Sequence[str] | Mapping[str, float]) -> dict[str, float]:
    """The weight w_l of every style layer: as given, or 1 / number of layers for a list."""
    if isinstance(style_layers, Mapping):
        weights = dict(style_layers)
    else:
        weights = {layer: 1.0 for layer in style_layers}
    if not weights:
        raise ValueError("style_layers must name at least one layer.")
    if not isinstance(style_layers, Mapping):
        weights = {layer: 1.0 / len(weights) for layer in weights}
    return weights


@dataclass
class _Targets:
    """What the generated image is compared with, extracted once before the first step."""

    content_layer: str
    content: Tensor
    style: StyleTargets
    style_weights: dict[str, float]


@torch.no_grad()
def _targets(
    extract: Extractor,
    content: Tensor,
    style: Tensor,
    content_layer: str,
    style_weights: dict[str, float],
) -> _Targets:
    """The content image's features at ``content_layer`` and the style image's Gram matrices."""
    layers = list(style_weights)
    return _Targets(
        content_layer=content_layer,
        content=_layer(extract(content, [content_layer]), content_layer, "content"),
        style=StyleTargets.from_features(extract(style, layers), layers),
        style_weights=style_weights,
    )


def _objective(
    extract: Extractor, targets: _Targets, *, alpha: float, beta: float, content_reduction: str
) -> Callable[[Tensor], LossParts]:
    """image -> its losses (L_total, L_content, L_style) against ``targets``."""
    # each layer once, in order
    layers = list(dict.fromkeys([targets.content_layer, *targets.style_weights]))

    def losses_of(image: Tensor) -> LossParts:
        return total_loss(
            extract(image, layers),
            targets.content,
            targets.style,
            content_layer=targets.content_layer,
            alpha=alpha,
            beta=beta,
            style_weights=targets.style_weights,
            content_reduction=content_reduction,
        )

    return losses_of


def _check_finite(parts: LossParts, evaluation: int) -> None:
    if not torch.isfinite(parts.total):
        raise NonFiniteLossError(
            f"The style-transfer loss became {parts.total.item()} at evaluation {evaluation} "
            f"(content {parts.content.item()}, style {parts.style.item()}). Lower lr, or alpha "
            "and beta if the losses are huge."
        )


def _check_image(image: Tensor, name: str) -> None:
    if not isinstance(image, Tensor) or image.dim() != 4 or image.shape[0] != 1:
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise ValueError(
            f"The {name} image must be a batch of one image, shape (1, C, H, W); got {shape}."
        )


def _layer(features: Mapping[str, Tensor], layer: str, which: str) -> Tensor:
    if layer not in features:
        raise ValueError(
            f"The extractor returned no {layer!r} features for the {which} image; "
            f"got {list(features)}."
        )
    return features[layer].detach()


def _initial_image(init: str | Tensor, content: Tensor, seed: int) -> Tensor:
    if isinstance(init, Tensor):
        if init.shape != content.shape:
            raise ValueError(
                "The initial image must have the content image's shape "
                f"{tuple(content.shape)}, got {tuple(init.shape)}."
            )
        return init.detach().to(device=content.device, dtype=content.dtype).clamp(0.0, 1.0).clone()
    if init == "content":
        return content.clone()
    if init == "noise":
        generator = torch.Generator().manual_seed(
            seed
        )  # on the CPU: the same noise on every device
        return torch.rand(content.shape, generator=generator, dtype=content.dtype).to(
            content.device
        )
    raise ValueError(f"init must be 'content', 'noise' or a tensor, got {init!r}.")


def _make_optimizer(name: str, image: Tensor, lr: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam([image], lr=lr)
    # One iteration per step() call (max_iter=1), so the image is clamped after every update.
    # Without a line search the fixed step lr * direction occasionally overshoots badly (the loss
    # jumps by orders of magnitude), so it is on. Zero tolerances: whether a loss or a gradient
    # is "small" depends on alpha and beta, so convergence is judged by the image not moving.
    # A memory of 20 steps (torch's default is 100) is within the usual 5 to 20 and keeps 2 x 20
    # image-sized vectors: 126 MB for a 512 x 512 image instead of 630 MB.
    return torch.optim.LBFGS(
        [image],
        lr=lr,
        max_iter=1,
        max_eval=_MAX_EVALS_PER_UPDATE,
        history_size=20,
        tolerance_grad=0.0,
        tolerance_change=0.0,
        line_search_fn="strong_wolfe",
    )


def _projected(gradient: Tensor, x: Tensor) -> Tensor:
    """The gradient of x -> L(clamp(x, 0, 1)), given the gradient of L at the clamped image.

    Pixels outside [0, 1] get 0 (the clamp is flat there). A pixel on a bound keeps its component
    only if descent, -gradient, points into the box: one that only pushes against the bound
    would be clamped back anyway, and left in it would make an L-BFGS direction look like a
    descent direction while the loss cannot decrease along it.
    """
    passes = ((x > 0) & (x < 1)) | ((x == 0) & (gradient < 0)) | ((x == 1) & (gradient > 0))
    return gradient * passes


def _remember_clamped_step(opt: torch.optim.Optimizer, image: Tensor, before: Tensor) -> None:
    """Make L-BFGS remember the step the image actually took, after clamping, not the one it chose.

    Why: L-BFGS models the curvature from pairs (s, y), s a step and y the change of gradient
    along it. ``torch.optim.LBFGS`` has no public way to be told the step: at the start of the
    next ``step()`` it rebuilds s as ``state["d"] * state["t"]`` (the direction and the length
    it chose) and pairs it with y = (gradient now) - (gradient then). Clamping has moved the
    image elsewhere, so without this fix s and y describe two different moves and the memory
    learns a wrong curvature: the results differ (notebook 10's numbers among them), and the
    quasi-Newton direction can stop pointing downhill near the box's faces.

    How: store d = (image - before) / t, so that d * t is exactly the clamped step. This writes
    the optimiser's private state, relying on the two keys ``"d"`` and ``"t"`` of torch 2.x's
    LBFGS (read back at the start of its ``step``); nothing else of its state is touched, and if
    those keys are missing the function does nothing.
    """
    state = opt.state[image]
    t = state.get("t")
    if isinstance(state.get("d"), Tensor) and t is not None and float(t) != 0.0:
        state["d"] = (image.detach() - before).flatten() / t
