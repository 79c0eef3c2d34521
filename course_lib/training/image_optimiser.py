"""Neural style transfer by optimising the pixels of an image (Gatys et al. 2016, section 2).

The network is fixed; the only variable is the generated image x, a (1, 3, H, W) tensor with
``requires_grad``. Each step extracts x's features, evaluates
L_total = alpha L_content + beta L_style (``course_lib.losses.style``) and moves x against the
gradient. The content and style targets are extracted once, before the first step, without
gradients.

Any feature extractor works that is a callable ``extract(images, layers) -> {layer: (B, C, H, W)}``,
such as the VGG-19 extractor of ``course_lib.models.vgg_features``. Gradients are taken with respect to
the image only (``torch.autograd.grad``), so the extractor's own parameters never receive a
``.grad``, whether or not they require one.

The image is kept in [0, 1] by clamping it after every update (a projection back onto the box
of valid images; the paper does not discuss the range). L-BFGS's line search may try points
outside the box between updates; the loss of a point x is always that of the valid image
clamp(x, 0, 1), with the gradient of that function (zero for the pixels outside, as autograd
gives through a clamp, and also zero for a pixel on a bound that descent would push further
out), so every image evaluated is valid and the line search sees the function actually
optimised. For L-BFGS, the step that the optimiser remembers is then replaced by the
step actually taken, so that its curvature pairs stay consistent with the clamped image.
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
) -> TransferResult:
    """Generate an image with the content of ``content`` and the style of ``style``.

    ``content`` and ``style`` are (1, 3, H, W) images in [0, 1]; the style image must have the
    content image's height and width (resize it first; see ``style_layer_loss``). The loss is
    alpha L_content at ``content_layer`` plus beta L_style over ``style_layers``: a list of layer
    names (equal weights w_l = 1 / number of layers) or a mapping from layer name to w_l.

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
    if optimizer not in DEFAULT_LR:
        raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}.")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}.")
    if max_seconds is not None and max_seconds < 0:
        raise ValueError(f"max_seconds must be >= 0 or None, got {max_seconds}.")
    lr = DEFAULT_LR[optimizer] if lr is None else lr
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr}.")
    _check_image(content, "content")
    _check_image(style, "style")
    if style.shape != content.shape:
        raise ValueError(
            f"The style image {tuple(style.shape)} must have the content image's shape {tuple(content.shape)}: "
            "resize it (for example with torch.nn.functional.interpolate) before the transfer."
        )
    weights = (
        dict(style_layers)
        if isinstance(style_layers, Mapping)
        else {layer: 1.0 for layer in style_layers}
    )
    if not weights:
        raise ValueError("style_layers must name at least one layer.")
    if not isinstance(style_layers, Mapping):
        weights = {layer: 1.0 / len(weights) for layer in weights}
    layers = list(dict.fromkeys([content_layer, *weights]))  # each layer once, in order

    began = time.perf_counter()
    content = content.detach()
    style = style.detach().to(content.device)
    with torch.no_grad():
        content_target = _layer(extract(content, [content_layer]), content_layer, "content")
        style_targets = StyleTargets.from_features(extract(style, list(weights)), list(weights))

    def losses_of(image: Tensor) -> LossParts:
        features = extract(image, layers)
        return total_loss(
            features,
            content_target,
            style_targets,
            content_layer=content_layer,
            alpha=alpha,
            beta=beta,
            style_weights=weights,
        )

    image = _initial_image(init, content, seed).requires_grad_(True)
    history: dict[str, list[float]] = {"total": [], "content": [], "style": [], "seconds": []}
    bar = progress_bar(None, total=steps, desc="style transfer", unit="eval") if progress else None
    last: tuple[Tensor, Tensor, Tensor] | None = (
        None  # (valid image, gradient, loss) of the last evaluation
    )

    def closure() -> Tensor:
        """The loss at clamp(image) and, in image.grad, its gradient with respect to image."""
        nonlocal last
        valid = image.detach().clamp(0.0, 1.0)
        if last is not None and torch.equal(valid, last[0]):
            # L-BFGS starts each update by evaluating the point its line search ended on, which
            # clamping leaves unchanged or moves only to where the loss is the same: no new cost.
            image.grad = _projected(last[1], image.detach())
            return last[2]
        if len(history["total"]) >= steps:
            raise _Stop("steps")
        if max_seconds is not None and time.perf_counter() - began >= max_seconds:
            raise _Stop("time")
        valid.requires_grad_(True)
        parts = losses_of(valid)
        if not torch.isfinite(parts.total):
            raise NonFiniteLossError(
                f"The style-transfer loss became {parts.total.item()} at evaluation {len(history['total'])} "
                f"(content {parts.content.item()}, style {parts.style.item()}). Lower lr, or alpha and beta "
                "if the losses are huge."
            )
        values = {name: float(value.detach()) for name, value in parts._asdict().items()}
        for name, value in values.items():
            history[name].append(value)
        history["seconds"].append(time.perf_counter() - began)
        if callback is not None:
            callback(len(history["total"]) - 1, valid.detach().clone(), values)
        (gradient,) = torch.autograd.grad(parts.total, valid)
        image.grad = _projected(gradient, image.detach())
        last = (valid.detach(), gradient, parts.total.detach())
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{values['total']:.4g}")
        return parts.total.detach()

    opt = _make_optimizer(optimizer, image, lr)
    fresh = True  # the L-BFGS memory is empty
    updates = 0
    while True:
        before = image.detach().clone()
        try:
            if optimizer == "lbfgs":
                opt.step(closure)
            else:
                closure()
                opt.step()
        except _Stop as stop:
            with torch.no_grad():
                image.copy_(before)  # drop an update that was cut short
            stop_reason = stop.reason
            break
        with torch.no_grad():
            image.clamp_(0.0, 1.0)
        if optimizer == "adam":
            updates += 1
            continue
        if torch.equal(image.detach(), before):
            # L-BFGS stood still: a zero gradient, a failed line search, or a memory distorted by
            # clamping that proposes no descent direction. Start once more from steepest descent;
            # if that does not move either, the image is a fixed point of the clamped iteration.
            if fresh:
                stop_reason = "converged"
                break
            opt, fresh = _make_optimizer(optimizer, image, lr), True
            continue
        updates += 1
        _record_actual_step(opt, image, before)
        fresh = False
    if bar is not None:
        bar.close()

    result_image = image.detach()
    with torch.no_grad():
        final = losses_of(result_image)
    return TransferResult(
        image=result_image,
        history=history,
        losses={name: float(value) for name, value in final._asdict().items()},
        steps=len(history["total"]),
        updates=updates,
        seconds=time.perf_counter() - began,
        stop_reason=stop_reason,
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
            f"The extractor returned no {layer!r} features for the {which} image; got {list(features)}."
        )
    return features[layer].detach()


def _initial_image(init: str | Tensor, content: Tensor, seed: int) -> Tensor:
    if isinstance(init, Tensor):
        if init.shape != content.shape:
            raise ValueError(
                f"The initial image must have the content image's shape {tuple(content.shape)}, got {tuple(init.shape)}."
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


def _record_actual_step(opt: torch.optim.Optimizer, image: Tensor, before: Tensor) -> None:
    """Make L-BFGS remember the clamped step it actually took instead of the step it proposed.

    LBFGS forms its next curvature pair from s = d * t (its stored direction and step length) and
    the change of gradient. After clamping the actual step is image - before; storing
    d = (image - before) / t makes s exactly that step.
    """
    state = opt.state[image]
    t = state.get("t")
    if isinstance(state.get("d"), Tensor) and t is not None and float(t) != 0.0:
        state["d"] = (image.detach() - before).flatten() / t
