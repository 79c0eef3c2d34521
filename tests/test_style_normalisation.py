"""The size-independent (mean) content loss against a float64 direct formula, the balance of the two
losses across image sizes, and the pretrained-weights path of VGGFeatures with a stand-in file in a
temporary torch hub cache (no network)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.losses.style import content_loss, style_layer_loss, total_loss
from course_lib.models import vgg_features
from course_lib.models.vgg_features import VGGFeatures, pretrained_weights_available


def _random(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _content_reference(f: np.ndarray, p: np.ndarray) -> float:
    """1 / (2 N M) sum_ij (F_ij - P_ij)^2 in float64, one image of shape (N, H, W)."""
    n, h, w = f.shape
    difference = (f.astype(np.float64) - p.astype(np.float64)).reshape(n, h * w)
    return float((difference**2).sum() / (2 * n * h * w))


def _style_reference(f: np.ndarray, a: np.ndarray) -> float:
    """1 / (4 N^2 M^2) sum_ij (G_ij - A_ij)^2 in float64, G and A from loops over positions."""
    n, h, w = f.shape
    x, y = f.astype(np.float64).reshape(n, -1), a.astype(np.float64).reshape(n, -1)
    positions = range(h * w)

    def gram(z: np.ndarray) -> np.ndarray:
        return np.array(
            [[sum(z[i, k] * z[j, k] for k in positions) for j in range(n)] for i in range(n)]
        )

    g, t = gram(x), gram(y)
    return float(((g - t) ** 2).sum() / (4 * n**2 * (h * w) ** 2))


def test_mean_content_loss_matches_a_float64_formula():
    f, p = _random(1, 3, 4, 5, seed=1), _random(1, 3, 4, 5, seed=2)
    expected = _content_reference(f[0].numpy(), p[0].numpy())
    assert content_loss(f, p, reduction="mean").item() == pytest.approx(expected, rel=1e-6)
    # the sum form is N M times larger (Gatys eq. 1)
    assert content_loss(f, p).item() == pytest.approx(expected * 3 * 4 * 5, rel=1e-6)


def test_mean_content_loss_sums_over_the_batch():
    f, p = _random(2, 3, 4, 4, seed=3), _random(2, 3, 4, 4, seed=4)
    expected = sum(_content_reference(f[i].numpy(), p[i].numpy()) for i in range(2))
    assert content_loss(f, p, reduction="mean").item() == pytest.approx(expected, rel=1e-6)


def test_style_layer_loss_matches_a_float64_formula():
    f, a = _random(1, 3, 3, 4, seed=5), _random(1, 3, 3, 4, seed=6)
    expected = _style_reference(f[0].numpy(), a[0].numpy())
    assert style_layer_loss(f, a).item() == pytest.approx(expected, rel=1e-5)


def _tiled(features: torch.Tensor) -> torch.Tensor:
    """The same feature map repeated 2 x 2: four times the positions, the same statistics."""
    return features.repeat(1, 1, 2, 2)


def test_mean_form_keeps_the_balance_of_the_two_losses_at_a_larger_size():
    # Tiling the maps is an image four times as large with the same local content: E_l and the
    # mean content loss do not change, the sum content loss grows fourfold, so with the sum the
    # same alpha / beta gives style a quarter of the weight.
    f, p, a = (_random(1, 4, 3, 3, seed=s) for s in (7, 8, 9))
    small = {"c": f, "s": f}
    large = {"c": _tiled(f), "s": _tiled(f)}
    for reduction, growth in (("mean", 1.0), ("sum", 4.0)):
        parts = [
            total_loss(
                generated,
                target,
                {"s": style},
                content_layer="c",
                alpha=1.0,
                beta=1.0,
                content_reduction=reduction,
            )
            for generated, target, style in ((small, p, a), (large, _tiled(p), _tiled(a)))
        ]
        assert parts[1].style.item() == pytest.approx(parts[0].style.item(), rel=1e-5)
        assert parts[1].content.item() == pytest.approx(growth * parts[0].content.item(), rel=1e-5)


def test_unknown_reduction_is_rejected():
    f = _random(1, 2, 2, 2, seed=10)
    with pytest.raises(ValueError, match="reduction"):
        content_loss(f, f, reduction="max")


def test_stand_in_weights_file_in_the_torch_cache_is_loaded_and_mapped(tmp_path, monkeypatch):
    # A stand-in for torchvision's vgg19 file: the first three convolutions in its key layout,
    # written where torch hub looks ($TORCH_HOME/hub/checkpoints). Its SHA-256 cannot start with
    # torchvision's prefix, so only the expected prefix is replaced; the file itself goes through
    # torchvision's loader (no network: the file is in the cache).
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    generator = torch.Generator().manual_seed(3)
    shapes = {0: (64, 3), 2: (64, 64), 5: (128, 64)}  # conv1_1, conv1_2, conv2_1
    state = {}
    for index, (out_channels, in_channels) in shapes.items():
        state[f"features.{index}.weight"] = 0.1 * torch.randn(
            out_channels, in_channels, 3, 3, generator=generator
        )
        state[f"features.{index}.bias"] = 0.1 * torch.randn(out_channels, generator=generator)
    state["classifier.6.bias"] = torch.zeros(1000)  # ignored: not a feature layer
    path = vgg_features.pretrained_weights_path()
    assert path == tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    assert pretrained_weights_available() is False
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(vgg_features, "_expected_hash_prefix", lambda: digest[:8])
    assert pretrained_weights_available() is True

    extractor = VGGFeatures(["conv1_1", "conv2_1"], weights="pretrained", pooling="avg")
    assert "pretrained" in extractor.source
    images = torch.rand(1, 3, 8, 8, generator=generator)
    got = extractor(images)
    # The layers by hand: normalise, conv1_1, ReLU, conv1_2, ReLU, 2 x 2 average pool, conv2_1.
    x = (images - torch.tensor(vgg_features.IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(
        vgg_features.IMAGENET_STD
    ).view(1, 3, 1, 1)
    conv1_1 = F.relu(F.conv2d(x, state["features.0.weight"], state["features.0.bias"], padding=1))
    conv1_2 = F.relu(
        F.conv2d(conv1_1, state["features.2.weight"], state["features.2.bias"], padding=1)
    )
    pooled = F.avg_pool2d(conv1_2, 2)
    conv2_1 = F.relu(
        F.conv2d(pooled, state["features.5.weight"], state["features.5.bias"], padding=1)
    )
    torch.testing.assert_close(got["conv1_1"], conv1_1, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got["conv2_1"], conv2_1, rtol=1e-5, atol=1e-5)
