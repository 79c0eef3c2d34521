"""Style transfer: Gram and correlation matrices, the losses of Gatys et al. against their formulas,
and the pixel optimisation loop on a tiny random extractor."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.losses.style import (
    StyleTargets,
    content_loss,
    correlation_matrix,
    gram_matrix,
    style_layer_loss,
    style_loss,
    total_loss,
)
from course_lib.training.image_optimiser import TransferResult, transfer
from course_lib.training.steps import NonFiniteLossError


def features(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- Gram and correlation


def test_gram_matrix_matches_einsum():
    f = features(2, 5, 4, 3)
    torch.testing.assert_close(gram_matrix(f), torch.einsum("bihw,bjhw->bij", f, f))
    assert gram_matrix(f).shape == (2, 5, 5)


def test_gram_of_channels_with_disjoint_support_is_diagonal():
    f = torch.zeros(1, 2, 2, 4)
    f[0, 0, :, :2] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # channel 0 lives on the left half
    f[0, 1, :, 2:] = torch.tensor([[5.0, 6.0], [7.0, 8.0]])  # channel 1 on the right half
    expected = torch.tensor([[[1.0 + 4 + 9 + 16, 0.0], [0.0, 25.0 + 36 + 49 + 64]]])
    torch.testing.assert_close(gram_matrix(f), expected)


def test_correlation_matrix_matches_numpy_corrcoef():
    f = features(1, 4, 5, 6, seed=1)
    f[0, 1] += 0.7 * f[0, 0]  # some real correlation
    expected = np.corrcoef(f[0].reshape(4, -1).double().numpy())
    np.testing.assert_allclose(correlation_matrix(f)[0].numpy(), expected, rtol=1e-5, atol=1e-6)


def test_correlation_ignores_shifts_and_scales_that_change_the_gram_matrix():
    f = features(1, 3, 4, 4, seed=2)
    moved = 3.0 * f + 5.0
    torch.testing.assert_close(
        correlation_matrix(moved), correlation_matrix(f), rtol=1e-4, atol=1e-5
    )
    assert not torch.allclose(gram_matrix(moved), gram_matrix(f), rtol=0.1)


def test_constant_channel_gets_zero_correlation_not_nan():
    f = features(1, 3, 4, 4, seed=3)
    f[0, 1] = 0.1  # constant, and 0.1 is not exact in binary: its mean may differ by an ulp
    r = correlation_matrix(f)
    assert torch.isfinite(r).all()
    assert (r[0, 1] == 0).all() and (r[0, :, 1] == 0).all()
    assert r[0, 0, 0] == pytest.approx(1.0) and r[0, 2, 2] == pytest.approx(1.0)


# ------------------------------------------------------------------------ content and style losses


def test_content_loss_is_half_the_squared_error():
    generated = torch.zeros(1, 2, 2, 2)
    target = torch.ones(1, 2, 2, 2)
    target[0, 0, 0, 0] = 3.0
    assert content_loss(generated, target).item() == pytest.approx(0.5 * (7 * 1.0 + 9.0))
    assert content_loss(target, target).item() == 0.0


def test_style_layer_loss_by_hand():
    # N = 1 channel, M = 2 positions: G = 1 + 4 = 5, A = 0 + 1 = 1,
    # E = (5 - 1)^2 / (4 * 1 * 2^2) = 1.
    generated = torch.tensor([[[[1.0, 2.0]]]])
    target = torch.tensor([[[[0.0, 1.0]]]])
    assert style_layer_loss(generated, target).item() == pytest.approx(1.0)
    # N = 2, M = 1: F = (1, 2), P = (0, 0): G = [[1, 2], [2, 4]], A = 0,
    # E = 25 / (4 * 4 * 1) = 25 / 16.
    generated = torch.tensor([[[[1.0]], [[2.0]]]])
    assert style_layer_loss(generated, torch.zeros_like(generated)).item() == pytest.approx(25 / 16)


def test_style_loss_is_zero_for_identical_features():
    f = features(1, 4, 3, 3)
    assert style_layer_loss(f, f.clone()).item() == 0.0
    assert style_loss({"a": f, "b": 2 * f}, {"a": f.clone(), "b": 2 * f.clone()}).item() == 0.0


def test_style_layer_loss_scales_as_the_formula_says():
    f, p = features(1, 3, 4, 5, seed=4), features(1, 3, 4, 5, seed=5)
    base = style_layer_loss(f, p).item()
    assert base > 0
    # Features times 2: G and A times 4, their squared difference times 16.
    assert style_layer_loss(2 * f, 2 * p).item() == pytest.approx(16 * base, rel=1e-5)
    # The maps repeated side by side: M doubles, G and A double, sum (G - A)^2 times 4,
    # 1 / M^2 times 1/4: E unchanged. Without the M^2 it would double, without the square of M
    # quadruple.
    wide = style_layer_loss(torch.cat([f, f], dim=3), torch.cat([p, p], dim=3)).item()
    assert wide == pytest.approx(base, rel=1e-5)
    # Every channel duplicated: N doubles, the Gram matrix becomes 2 x 2 blocks of G (4 times the
    # sum), 1 / N^2 times 1/4: E unchanged.
    deep = style_layer_loss(torch.cat([f, f], dim=1), torch.cat([p, p], dim=1)).item()
    assert deep == pytest.approx(base, rel=1e-5)


def test_style_layer_loss_accepts_a_precomputed_gram_target():
    f, p = features(1, 3, 4, 4, seed=6), features(1, 3, 4, 4, seed=7)
    torch.testing.assert_close(style_layer_loss(f, gram_matrix(p)), style_layer_loss(f, p))


def test_style_loss_combines_layers_linearly():
    generated = {"a": features(1, 2, 4, 4, seed=8), "b": features(1, 3, 2, 2, seed=9)}
    targets = {"a": features(1, 2, 4, 4, seed=10), "b": features(1, 3, 2, 2, seed=11)}
    e_a = style_layer_loss(generated["a"], targets["a"]).item()
    e_b = style_layer_loss(generated["b"], targets["b"]).item()
    assert e_a != pytest.approx(e_b)
    assert style_loss(generated, targets, {"a": 0.3, "b": 2.0}).item() == pytest.approx(
        0.3 * e_a + 2.0 * e_b
    )
    assert style_loss(generated, targets).item() == pytest.approx(
        (e_a + e_b) / 2
    )  # equal weights 1/2
    assert style_loss(generated, targets, {"b": 1.0}).item() == pytest.approx(
        e_b
    )  # a target left out


def test_style_targets_are_detached_grams_that_give_the_same_loss():
    style = {
        "a": features(1, 2, 4, 4, seed=12).requires_grad_(),
        "b": features(1, 3, 2, 2, seed=13),
    }
    targets = StyleTargets.from_features(style)
    assert targets.layers == ("a", "b")
    assert not targets.grams["a"].requires_grad
    torch.testing.assert_close(targets.grams["a"], gram_matrix(style["a"].detach()))
    generated = {"a": features(1, 2, 4, 4, seed=14), "b": features(1, 3, 2, 2, seed=15)}
    torch.testing.assert_close(
        style_loss(generated, targets), style_loss(generated, style).detach()
    )


def test_total_loss_weights_the_two_parts():
    generated = {"c": features(1, 2, 4, 4, seed=16), "s": features(1, 3, 2, 2, seed=17)}
    content_target = features(1, 2, 4, 4, seed=18)
    style_targets = {"s": features(1, 3, 2, 2, seed=19)}
    parts = total_loss(
        generated, content_target, style_targets, content_layer="c", alpha=0.5, beta=40.0
    )
    assert parts.content.item() == pytest.approx(
        content_loss(generated["c"], content_target).item()
    )
    assert parts.style.item() == pytest.approx(
        style_layer_loss(generated["s"], style_targets["s"]).item()
    )
    assert parts.total.item() == pytest.approx(
        0.5 * parts.content.item() + 40.0 * parts.style.item()
    )
    total, content, style = parts  # a tuple as well
    assert total is parts.total


def test_shape_mismatches_and_missing_layers_are_named():
    f = features(1, 2, 4, 4)
    with pytest.raises(ValueError, match="conv4_2"):
        content_loss(f, features(1, 2, 4, 5), layer="conv4_2")
    with pytest.raises(ValueError, match="resize the style image"):
        style_layer_loss(f, features(1, 2, 8, 8))
    with pytest.raises(ValueError, match=r"\(1, 2, 2\)"):
        style_layer_loss(f, torch.zeros(1, 3, 3))  # a Gram matrix with the wrong number of channels
    with pytest.raises(ValueError, match="conv3_1"):
        style_loss({"conv1_1": f}, {"conv1_1": f, "conv3_1": f})  # generated features lack conv3_1
    with pytest.raises(ValueError, match="conv5_1"):
        style_loss({"conv1_1": f}, {"conv1_1": f}, {"conv5_1": 1.0})  # a weight without a target
    with pytest.raises(ValueError, match="conv2_1"):
        style_loss({"conv2_1": features(1, 2, 2, 2)}, StyleTargets.from_features({"conv2_1": f}))
    with pytest.raises(ValueError, match="conv4_2"):
        total_loss({"conv1_1": f}, f, {"conv1_1": f}, content_layer="conv4_2", alpha=1.0, beta=1.0)
    with pytest.raises(ValueError, match="B, C, H, W"):
        gram_matrix(torch.zeros(3, 4))


# ----------------------------------------------------------------------------- the transfer loop


class TinyExtractor(nn.Module):
    """Two random 3x3 conv + ReLU layers with average pooling between them, fixed by a seed."""

    def __init__(self, seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):  # leave the global random stream as it was
            torch.manual_seed(seed)
            self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
            self.conv2 = nn.Conv2d(6, 8, 3, padding=1)
        self.calls: list[torch.Tensor] = []

    def forward(self, images: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        self.calls.append(images.detach().clone())
        out = {"conv1": F.relu(self.conv1(images))}
        out["conv2"] = F.relu(self.conv2(F.avg_pool2d(out["conv1"], 2)))
        return {layer: out[layer] for layer in layers if layer in out}  # unknown names left out


def images() -> tuple[torch.Tensor, torch.Tensor]:
    """A 16 x 16 content image (a bright disc on a colour ramp) and a striped style image."""
    y, x = torch.meshgrid(torch.linspace(0, 1, 16), torch.linspace(0, 1, 16), indexing="ij")
    disc = (((x - 0.4) ** 2 + (y - 0.6) ** 2) < 0.08).float()
    content = torch.stack([0.2 + 0.6 * disc, 0.1 + 0.5 * x, 0.8 - 0.6 * y])[None].clamp(0, 1)
    style = torch.zeros(1, 3, 16, 16)
    style[:, 0, ::4, :] = 1.0  # red horizontal stripes
    style[:, 2, :, 1::3] = 0.7  # blue vertical ones
    return content, style


SETUP = dict(
    content_layer="conv2", style_layers=["conv1", "conv2"], alpha=1.0, beta=100.0, progress=False
)


def evaluate(extract, image, content, style) -> float:
    with torch.no_grad():
        generated = extract(image, ["conv1", "conv2"])
        content_target = extract(content, ["conv2"])
        style_targets = StyleTargets.from_features(extract(style, ["conv1", "conv2"]))
        parts = total_loss(
            generated, content_target, style_targets, content_layer="conv2", alpha=1.0, beta=100.0
        )
        return parts.total.item()


@pytest.mark.parametrize("optimizer, steps", [("lbfgs", 30), ("adam", 40)])
def test_transfer_reduces_the_total_loss(optimizer, steps):
    extract = TinyExtractor()
    content, style = images()
    result = transfer(
        extract, content, style, init="noise", optimizer=optimizer, steps=steps, **SETUP
    )
    assert isinstance(result, TransferResult)
    start = evaluate(
        extract,
        torch.rand(content.shape, generator=torch.Generator().manual_seed(0)),
        content,
        style,
    )
    end = evaluate(extract, result.image, content, style)
    assert result.history["total"][0] == pytest.approx(start, rel=1e-5)
    assert result.losses["total"] == pytest.approx(end, rel=1e-5)
    assert end < 0.3 * start
    assert result.history["total"][-1] < result.history["total"][0]
    assert result.steps == steps and result.stop_reason == "steps"
    for key in ("total", "content", "style", "seconds"):
        assert len(result.history[key]) == steps
    assert all(b >= a for a, b in zip(result.history["seconds"], result.history["seconds"][1:]))


def test_transfer_computes_targets_once_and_leaves_the_extractor_without_gradients():
    extract = TinyExtractor()
    content, style = images()
    transfer(extract, content, style, init="content", optimizer="lbfgs", steps=5, **SETUP)
    assert sum(torch.equal(x, style) for x in extract.calls) == 1
    assert (
        len(extract.calls) == 2 + 5 + 1
    )  # content and style targets, 5 steps, the final evaluation
    assert all(p.grad is None for p in extract.parameters())


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_transfer_respects_the_step_count_and_calls_back_at_every_evaluation(optimizer):
    extract = TinyExtractor()
    content, style = images()
    seen = []
    result = transfer(
        extract,
        content,
        style,
        init="content",
        optimizer=optimizer,
        steps=7,
        callback=lambda step, image, losses: seen.append((step, image, losses["total"])),
        **SETUP,
    )
    assert result.steps == 7 and len(result.history["total"]) == 7 and result.stop_reason == "steps"
    assert [step for step, _, _ in seen] == list(range(7))
    assert torch.equal(seen[0][1], content)  # step 0 shows the initial image
    assert [total for _, _, total in seen] == result.history["total"]
    if optimizer == "adam":
        assert result.updates == 7
        assert not torch.equal(
            seen[-1][1], result.image
        )  # the returned image is one update further
    else:
        # An update cut short by the budget is dropped: the image returned is one already evaluated,
        # the last accepted one, with the loss recorded for it.
        assert 1 <= result.updates <= 7
        match = [total for _, image, total in seen if torch.equal(image, result.image)]
        assert match and result.losses["total"] == pytest.approx(match[-1], rel=1e-6)
        assert result.losses["total"] < result.history["total"][0]


def test_lbfgs_stops_when_the_image_no_longer_moves():
    extract = TinyExtractor()
    content, _ = images()
    # Style image = content image = start: both losses and the gradient are zero.
    result = transfer(
        extract, content, content.clone(), init="content", optimizer="lbfgs", steps=50, **SETUP
    )
    assert result.stop_reason == "converged"
    assert result.steps == 1 and result.updates == 0
    assert torch.equal(result.image, content)


def test_transfer_stops_when_time_runs_out():
    extract = TinyExtractor()
    content, style = images()
    result = transfer(
        extract,
        content,
        style,
        optimizer="adam",
        steps=1000,
        max_seconds=0.3,
        callback=lambda *_: time.sleep(0.05),
        **SETUP,
    )
    assert result.stop_reason == "time"
    assert 1 <= result.steps < 20
    assert result.seconds >= 0.3
    nothing = transfer(extract, content, style, optimizer="lbfgs", steps=10, max_seconds=0, **SETUP)
    assert nothing.steps == 0 and nothing.stop_reason == "time"
    assert torch.equal(nothing.image, content)


def test_noise_init_is_deterministic_by_seed():
    extract = TinyExtractor()
    content, style = images()
    first = transfer(extract, content, style, init="noise", seed=3, steps=0, **SETUP).image
    again = transfer(extract, content, style, init="noise", seed=3, steps=0, **SETUP).image
    other = transfer(extract, content, style, init="noise", seed=4, steps=0, **SETUP).image
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.min() >= 0 and first.max() <= 1 and first.std() > 0.2  # uniform noise, std 0.29
    ran = [
        transfer(extract, content, style, init="noise", seed=3, steps=3, **SETUP).image
        for _ in range(2)
    ]
    assert torch.equal(ran[0], ran[1])


def test_output_is_clamped_to_the_unit_interval(quiet_progress):
    extract = TinyExtractor()
    content, style = images()
    result = transfer(
        extract,
        content,
        style,
        init="content",
        optimizer="adam",
        lr=0.3,
        steps=5,
        **{**SETUP, "progress": True},
    )
    assert result.image.min() >= 0.0 and result.image.max() <= 1.0
    # Steps of about 0.3 per pixel from values spread over [0, 1]: many would leave the interval.
    assert ((result.image == 0) | (result.image == 1)).float().mean() > 0.1
    assert result.image.shape == content.shape and not result.image.requires_grad


def test_lbfgs_evaluates_only_valid_images():
    extract = TinyExtractor()
    content, style = images()
    ranges = []
    result = transfer(
        extract,
        content,
        style,
        init="noise",
        optimizer="lbfgs",
        steps=40,
        callback=lambda step, image, losses: ranges.append(
            (image.min().item(), image.max().item())
        ),
        **SETUP,
    )
    assert len(ranges) == 40
    assert (
        min(low for low, _ in ranges) == 0.0 and max(high for _, high in ranges) == 1.0
    )  # the bounds are reached
    assert result.image.min() >= 0 and result.image.max() <= 1
    # Trial points beyond the bounds are evaluated as the clamped images they become, so clamping
    # an accepted point needs no new evaluation: almost every evaluation yields an update.
    assert result.updates >= 30


def test_transfer_accepts_a_tensor_init_and_layer_weights():
    extract = TinyExtractor()
    content, style = images()
    start = torch.full_like(content, 0.5)
    seen = []
    transfer(
        extract,
        content,
        style,
        init=start,
        steps=1,
        callback=lambda step, image, losses: seen.append(losses["style"]),
        **{**SETUP, "style_layers": {"conv1": 1.0}},
    )
    with torch.no_grad():
        expected = style_layer_loss(
            extract(start, ["conv1"])["conv1"], extract(style, ["conv1"])["conv1"]
        ).item()
    assert seen == [pytest.approx(expected, rel=1e-5)]


def test_transfer_rejects_bad_arguments():
    extract = TinyExtractor()
    content, style = images()
    with pytest.raises(ValueError, match="optimizer"):
        transfer(extract, content, style, optimizer="sgd", **SETUP)
    with pytest.raises(ValueError, match="init"):
        transfer(extract, content, style, init="zeros", **SETUP)
    with pytest.raises(ValueError, match="resize"):
        transfer(extract, content, style[..., :8, :8], **SETUP)
    with pytest.raises(ValueError, match="conv9"):
        transfer(extract, content, style, **{**SETUP, "content_layer": "conv9"}, steps=1)


def test_transfer_raises_on_a_non_finite_loss():
    content, style = images()

    def broken(images, layers):
        return {layer: images * float("nan") for layer in layers}

    with pytest.raises(NonFiniteLossError):
        transfer(broken, content, style, steps=2, **SETUP)
