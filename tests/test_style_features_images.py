"""Neural style transfer helpers: the VGG-19 feature extractor and the image loaders.

Every test uses the random weights or a monkeypatched download: none touches the network. The
layer names are checked against torchvision's ``vgg19().features`` run module by module with
indices written out by hand. The paintings are the copies packaged in
``course_lib/data/paintings/``; a changed or missing one is simulated in ``tmp_path``, and no
test writes into the package.
"""

from __future__ import annotations

import hashlib
import tomllib
import urllib.error
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.hub
import torchvision
from PIL import Image
from torch import nn

from course_lib.data import images
from course_lib.data.download import CorruptDataError
from course_lib.data.images import bundled_image, load_image, load_painting, to_pil
from course_lib.models import vgg_features as features
from course_lib.models.vgg_features import (
    CONTENT_LAYER,
    STYLE_LAYERS,
    VGG19_LAYERS,
    VGGFeatures,
    WeightsUnavailableError,
    pretrained_weights_available,
)
from course_lib.runtime.config import DATA_DIR_ENV, REPO_ROOT

# The ReLU after each convolution in torchvision's vgg19().features, counted by hand from
# configuration "E": 64, 64, M, 128, 128, M, 256 x 4, M, 512 x 4, M, 512 x 4, M (conv, relu pairs).
HAND_RELU_INDEX = {
    "conv1_1": 1,
    "conv1_2": 3,
    "conv2_1": 6,
    "conv2_2": 8,
    "conv3_1": 11,
    "conv3_2": 13,
    "conv3_3": 15,
    "conv3_4": 17,
    "conv4_1": 20,
    "conv4_2": 22,
    "conv4_3": 24,
    "conv4_4": 26,
    "conv5_1": 29,
    "conv5_2": 31,
    "conv5_3": 33,
    "conv5_4": 35,
}
HAND_POOL_INDEX = (4, 9, 18, 27)  # 36 closes block 5, after conv5_4: never kept
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def _images(batch: int = 2, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


PAINTINGS_PACKAGE = REPO_ROOT / "course_lib" / "data"  # the package whose data holds the paintings


@pytest.fixture(scope="module", autouse=True)
def packaged_paintings_stay_untouched():
    """After this module's tests the package's paintings folder holds exactly the two copies."""
    yield
    found = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (PAINTINGS_PACKAGE / "paintings").iterdir()
    }
    assert found == {p.file: p.sha256 for p in images.PAINTINGS.values()}


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    """An empty torch hub cache, and a download function that fails as if offline."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # in case torch.hub.set_dir was called
    calls = []

    def offline(url, dst, *args, **kwargs):
        calls.append((url, dst))
        raise urllib.error.URLError("no network in the tests")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    return tmp_path / "torch" / "hub" / "checkpoints", calls


# ---------------------------------------------------------------------------------------------
# Feature extractor


def test_layer_constants_follow_the_paper():
    assert VGG19_LAYERS == tuple(HAND_RELU_INDEX)
    assert STYLE_LAYERS == ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
    assert CONTENT_LAYER == "conv4_2"
    assert features.PAPER_LAYERS == STYLE_LAYERS + (CONTENT_LAYER,)


def test_layer_names_are_the_relu_outputs_of_torchvision_vgg19():
    extractor = VGGFeatures(VGG19_LAYERS, weights="random", seed=0)  # every layer: the full body
    with torch.device("meta"):
        reference = torchvision.models.vgg19(weights=None).features
    reference = reference.to_empty(device="cpu")
    reference.load_state_dict(extractor.body.state_dict(), strict=True)
    x = _images()
    got = extractor(x)
    assert list(got) == list(VGG19_LAYERS)

    # torchvision's network by hand: normalise, then record the output of each listed ReLU.
    by_index = {index: name for name, index in HAND_RELU_INDEX.items()}
    h = (x - MEAN) / STD
    with torch.no_grad():
        for index, module in enumerate(reference):
            h = module(h)
            if index in by_index:
                assert isinstance(module, nn.ReLU)
                name = by_index[index]
                assert got[name].shape == h.shape, name
                torch.testing.assert_close(got[name], h, msg=name)
                assert bool((got[name] >= 0).all()), name  # a ReLU output, not the convolution's
            if index == max(by_index):
                break


def test_network_is_cut_after_the_deepest_requested_layer():
    shallow = VGGFeatures(["conv1_1"], weights="random")
    assert [type(m) for m in shallow.body] == [nn.Conv2d, nn.ReLU]

    paper = VGGFeatures(["conv4_2", "conv1_1", "conv2_1"], weights="random")
    assert len(paper.body) == HAND_RELU_INDEX["conv4_2"] + 1
    assert isinstance(paper.body[-1], nn.ReLU)
    assert sum(isinstance(m, nn.Conv2d) for m in paper.body) == 10  # conv1_1 .. conv4_2
    assert list(paper(_images(1))) == ["conv4_2", "conv1_1", "conv2_1"]  # the requested order

    full = VGGFeatures(features.PAPER_LAYERS, weights="random")
    assert len(full.body) == HAND_RELU_INDEX["conv5_1"] + 1


def test_imagenet_normalisation_is_applied_inside():
    extractor = VGGFeatures(["conv1_1"], weights="random", seed=3)
    conv = extractor.body[0]
    x = _images(1, 8)
    expected = torch.relu(conv((x - MEAN) / STD))
    torch.testing.assert_close(extractor(x)["conv1_1"], expected)
    # The mean colour is the zero input of the network: zero biases give an all-zero response.
    mean_image = MEAN.expand(1, 3, 8, 8).clone()
    assert bool((extractor(mean_image)["conv1_1"] == 0).all())
    assert not torch.allclose(extractor(x)["conv1_1"], torch.relu(conv(x)))


def test_average_pooling_replaces_every_max_pooling():
    kept = ["conv5_1"]
    max_pooled = VGGFeatures(kept, weights="random", seed=0, pooling="max")
    avg_pooled = VGGFeatures(kept, weights="random", seed=0, pooling="avg")
    assert [i for i, m in enumerate(max_pooled.body) if isinstance(m, nn.MaxPool2d)] == list(
        HAND_POOL_INDEX
    )
    assert not any(isinstance(m, nn.MaxPool2d) for m in avg_pooled.body)
    assert [i for i, m in enumerate(avg_pooled.body) if isinstance(m, nn.AvgPool2d)] == list(
        HAND_POOL_INDEX
    )
    for index in HAND_POOL_INDEX:
        assert avg_pooled.body[index].kernel_size == 2 and avg_pooled.body[index].stride == 2

    shallow_max = VGGFeatures(["conv2_1"], weights="random", seed=0, pooling="max")
    shallow_avg = VGGFeatures(["conv2_1"], weights="random", seed=0, pooling="avg")
    x = _images(1, 16)
    h = torch.relu(shallow_avg.body[2](torch.relu(shallow_avg.body[0]((x - MEAN) / STD))))
    expected = torch.relu(shallow_avg.body[5](nn.functional.avg_pool2d(h, 2)))
    torch.testing.assert_close(shallow_avg(x)["conv2_1"], expected)
    assert not torch.allclose(shallow_max(x)["conv2_1"], shallow_avg(x)["conv2_1"])


def test_parameters_are_frozen_and_gradients_reach_the_image():
    extractor = VGGFeatures(["conv1_1", "conv2_1"], weights="random")
    assert all(not p.requires_grad for p in extractor.parameters())
    assert not extractor.training
    nn.Sequential(extractor).train()  # a parent switching to training mode changes nothing
    assert not extractor.training and not any(m.training for m in extractor.modules())

    x = _images(1, 16).requires_grad_()
    extractor(x)["conv2_1"].sum().backward()
    assert x.grad is not None and bool(x.grad.abs().sum() > 0)
    assert all(p.grad is None for p in extractor.parameters())


def test_random_weights_are_seeded_and_say_so():
    state = torch.random.get_rng_state()
    a = VGGFeatures(["conv2_1"], weights="random", seed=0)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global generator is untouched
    b = VGGFeatures(["conv2_1"], weights="random", seed=0)
    c = VGGFeatures(["conv2_1"], weights="random", seed=1)
    deeper = VGGFeatures(["conv4_2"], weights="random", seed=0)
    for key, value in a.body.state_dict().items():
        assert torch.equal(value, b.body.state_dict()[key])
        assert torch.equal(value, deeper.body.state_dict()[key])  # the same first layers
    assert not torch.equal(a.body[0].weight, c.body[0].weight)
    x = _images(1, 16)
    torch.testing.assert_close(a(x)["conv2_1"], b(x)["conv2_1"], rtol=0, atol=0)

    assert a.weights == "random" and a.seed == 0
    assert "random" in a.source and "seed 0" in a.source and "NOT the pretrained" in a.source
    assert "seed 1" in c.source
    assert a.source in repr(a)


@pytest.mark.parametrize(
    "bad",
    [
        torch.rand(3, 16, 16),  # no batch axis
        torch.rand(1, 1, 16, 16),  # greyscale
        torch.rand(1, 4, 16, 16),  # RGBA
        (torch.rand(1, 3, 16, 16) * 255).to(torch.uint8),  # bytes
        torch.rand(1, 3, 16, 16) * 255,  # float, but 0..255
        torch.rand(1, 3, 16, 16) - 0.5,  # negative values
        torch.full((1, 3, 16, 16), float("nan")),
        torch.rand(1, 3, 4, 4),  # too small for conv4_2 (three poolings: at least 8 pixels)
    ],
)
def test_bad_images_are_rejected(bad):
    extractor = VGGFeatures(["conv2_1", "conv4_2"], weights="random")
    with pytest.raises(ValueError):
        extractor(bad)


def test_range_check_can_be_switched_off():
    extractor = VGGFeatures(["conv1_1"], weights="random", check_range=False)
    extractor(torch.rand(1, 3, 8, 8) * 2 - 0.5)  # no error


@pytest.mark.parametrize(
    "kwargs",
    [
        {"layers": ["conv4_2"], "weights": "imagenet"},
        {"layers": ["conv4_2"], "weights": None},
        {"layers": ["relu4_2"], "weights": "random"},
        {"layers": ["conv6_1"], "weights": "random"},
        {"layers": [], "weights": "random"},
        {"layers": ["conv4_2"], "weights": "random", "pooling": "min"},
        {"layers": ["conv4_2"], "weights": "random", "seed": 1.5},
    ],
)
def test_bad_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError):
        VGGFeatures(**kwargs)


def test_weights_must_be_named():
    with pytest.raises(TypeError):
        VGGFeatures(["conv4_2"])  # no default: pretrained or random must be chosen


def test_pretrained_without_cache_or_network_raises_a_clear_error(empty_torch_home):
    cache, calls = empty_torch_home
    assert features.pretrained_weights_path() == cache / "vgg19-dcbb9e9d.pth"
    assert pretrained_weights_available() is False
    with pytest.raises(WeightsUnavailableError) as caught:
        VGGFeatures(["conv4_2"], weights="pretrained", progress=False)
    message = str(caught.value)
    assert "vgg19-dcbb9e9d.pth" in message and str(cache) in message
    assert "TORCH_HOME" in message and "connect to the internet" in message and "copy" in message
    assert 'weights="random"' in message
    # It went through torchvision's own download, into the cache that $TORCH_HOME names.
    assert calls == [(features.PRETRAINED_WEIGHTS.url, str(cache / "vgg19-dcbb9e9d.pth"))]
    assert not (cache / "vgg19-dcbb9e9d.pth").exists()


def test_a_damaged_cached_file_is_refused_before_unpickling(empty_torch_home, monkeypatch):
    cache, calls = empty_torch_home
    cache.mkdir(parents=True)
    (cache / "vgg19-dcbb9e9d.pth").write_bytes(b"not the weights")
    assert pretrained_weights_available() is True  # the file is there (its digest is not checked)

    def no_load(*args, **kwargs):
        raise AssertionError("torch.load must not read an unverified file")

    monkeypatch.setattr(torch, "load", no_load)
    with pytest.raises(CorruptDataError) as caught:
        VGGFeatures(["conv1_1"], weights="pretrained", progress=False)
    digest = hashlib.sha256(b"not the weights").hexdigest()
    assert digest in str(caught.value) and "dcbb9e9d" in str(caught.value)
    assert str(cache / "vgg19-dcbb9e9d.pth") in str(caught.value)
    assert calls == []


def test_pretrained_weights_are_loaded_through_torchvision(empty_torch_home, monkeypatch):
    # A stand-in state dict in torchvision's layout (features.* and classifier.*).
    with torch.device("meta"):
        layout = torchvision.models.vgg19(weights=None).state_dict()
    generator = torch.Generator().manual_seed(7)
    fake = {
        key: torch.randn(value.shape, generator=generator)
        for key, value in layout.items()
        if key.startswith("features.")
    }
    fake["classifier.6.bias"] = torch.zeros(1000)
    received = {}

    def fake_get_state_dict(self, *args, **kwargs):
        received.update(kwargs, weights=self)
        return fake

    monkeypatch.setattr(torchvision.models.VGG19_Weights, "get_state_dict", fake_get_state_dict)
    extractor = VGGFeatures(["conv2_1"], weights="pretrained", progress=False)
    assert received == {
        "progress": False,
        "check_hash": True,
        "weights_only": True,
        "weights": torchvision.models.VGG19_Weights.IMAGENET1K_V1,
    }
    assert torch.equal(extractor.body[0].weight, fake["features.0.weight"])
    assert torch.equal(extractor.body[5].bias, fake["features.5.bias"])
    assert len(extractor.body) == HAND_RELU_INDEX["conv2_1"] + 1
    assert extractor.weights == "pretrained" and extractor.seed is None
    assert "pretrained" in extractor.source and "random" not in extractor.source
    assert all(not p.requires_grad for p in extractor.parameters())


# ---------------------------------------------------------------------------------------------
# Images


def _write_image(path: Path, width: int, height: int, mode: str = "RGB") -> np.ndarray:
    """A deterministic image with black and white pixels; returns its RGB pixels (H, W, 3)."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    rgb[0, 0] = 0
    rgb[-1, -1] = 255
    image = Image.fromarray(rgb).convert(mode)
    image.save(path)
    return np.array(image.convert("RGB"))


def test_load_image_keeps_pixels_and_resizes_the_longer_side(tmp_path):
    pixels = _write_image(tmp_path / "wide.png", 60, 40)
    full = load_image(tmp_path / "wide.png")
    assert full.shape == (1, 3, 40, 60) and full.dtype == torch.float32
    torch.testing.assert_close(full[0].permute(1, 2, 0), torch.from_numpy(pixels).float() / 255)
    assert full.min() == 0 and full.max() == 1

    assert load_image(tmp_path / "wide.png", size=30).shape == (1, 3, 20, 30)
    assert load_image(str(tmp_path / "wide.png"), size=120).shape == (1, 3, 80, 120)
    assert load_image(tmp_path / "wide.png", size=60).shape == (1, 3, 40, 60)
    _write_image(tmp_path / "tall.png", 40, 60)
    small = load_image(tmp_path / "tall.png", size=30)
    assert small.shape == (1, 3, 30, 20)
    assert bool((small >= 0).all()) and bool((small <= 1).all())


@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
def test_load_image_converts_to_rgb(tmp_path, mode):
    _write_image(tmp_path / "image.png", 12, 10, mode)
    assert load_image(tmp_path / "image.png").shape == (1, 3, 10, 12)


def test_load_image_missing_file_names_the_path_and_the_working_directory(tmp_path):
    missing = tmp_path / "nowhere" / "photo.jpg"
    with pytest.raises(FileNotFoundError) as caught:
        load_image(missing)
    assert str(missing) in str(caught.value) and str(Path.cwd()) in str(caught.value)
    with pytest.raises(IsADirectoryError):
        load_image(tmp_path)


def test_load_image_corrupt_files(tmp_path):
    (tmp_path / "text.png").write_bytes(b"this is not an image")
    with pytest.raises(CorruptDataError, match="text.png"):
        load_image(tmp_path / "text.png")
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptDataError, match="cut.jpg"):
        load_image(tmp_path / "cut.jpg")


@pytest.mark.parametrize("size", [0, -5, 2.5, True, (32, 32), "64"])
def test_bad_sizes_are_rejected(tmp_path, size):
    _write_image(tmp_path / "image.png", 12, 10)
    with pytest.raises((TypeError, ValueError)):
        load_image(tmp_path / "image.png", size=size)


def test_to_pil_round_trips_and_clamps(tmp_path):
    pixels = _write_image(tmp_path / "image.png", 12, 10)
    tensor = load_image(tmp_path / "image.png")
    np.testing.assert_array_equal(np.array(to_pil(tensor)), pixels)
    np.testing.assert_array_equal(np.array(to_pil(tensor[0])), pixels)
    extreme = torch.tensor([-1.0, 0.5, 2.0]).view(3, 1, 1).expand(3, 2, 2)
    image = to_pil(extreme)
    assert image.mode == "RGB" and image.size == (2, 2)
    assert tuple(np.array(image)[0, 0]) == (0, 128, 255)
    with pytest.raises(ValueError):
        to_pil(torch.rand(2, 3, 4, 4))
    with pytest.raises(ValueError):
        to_pil(torch.rand(1, 4, 4))


def test_bundled_photographs_come_from_scikit_image():
    chelsea = bundled_image("chelsea", 64)  # 451 x 300 pixels
    assert chelsea.shape == (1, 3, 43, 64)
    assert bool((chelsea >= 0).all()) and bool((chelsea <= 1).all()) and chelsea.std() > 0.05
    assert bundled_image("astronaut").shape == (1, 3, 512, 512)
    with pytest.raises(ValueError, match="chelsea"):
        bundled_image("lena")


def test_a_changed_bundled_photograph_is_refused(tmp_path, monkeypatch):
    real = images._skimage_data_dir() / "coffee.png"
    data = bytearray(real.read_bytes())
    data[-20] ^= 0xFF
    (tmp_path / "coffee.png").write_bytes(bytes(data))
    monkeypatch.setattr(images, "_skimage_data_dir", lambda: tmp_path)
    with pytest.raises(CorruptDataError, match="scikit-image"):
        bundled_image("coffee")
    with pytest.raises(FileNotFoundError, match="chelsea.png"):
        bundled_image("chelsea")


def test_the_packaged_paintings_load_without_a_data_folder_and_match_their_digests(
    tmp_path, monkeypatch
):
    monkeypatch.setenv(
        DATA_DIR_ENV, str(tmp_path)
    )  # an empty data folder: the paintings are not there
    for name, shape in (("starry_night", (1, 3, 448, 576)), ("the_scream", (1, 3, 800, 576))):
        painting = images.PAINTINGS[name]
        assert (
            hashlib.sha256(images.painting_path(name).read_bytes()).hexdigest() == painting.sha256
        )
        full = load_painting(name)
        assert full.shape == shape == (1, 3, painting.height, painting.width)
        assert bool((full >= 0).all()) and bool((full <= 1).all()) and full.std() > 0.05
    assert load_painting("starry_night", 64).shape == (1, 3, 50, 64)
    assert load_painting("the_scream.jpg", 64).shape == (1, 3, 64, 46)
    assert not any(tmp_path.iterdir())


def test_the_paintings_are_package_data_so_a_wheel_includes_them():
    # A wheel or sdist holds only the data files that package-data names (the globs are read from
    # the package folder, as setuptools does); importlib.resources is how load_painting finds them.
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["course_lib.data"]
    covered = {
        path.relative_to(PAINTINGS_PACKAGE).as_posix()
        for g in globs
        for path in PAINTINGS_PACKAGE.glob(g)
    }
    for painting in images.PAINTINGS.values():
        assert f"paintings/{painting.file}" in covered
        assert (files("course_lib.data") / "paintings" / painting.file).is_file()


def test_a_changed_packaged_painting_is_refused_and_left_as_it_is(tmp_path, monkeypatch):
    data = bytearray(images.painting_path("the_scream").read_bytes())
    data[len(data) // 2] ^= 0x01
    changed = tmp_path / "the_scream.jpg"
    changed.write_bytes(bytes(data))
    monkeypatch.setattr(images, "_paintings_folder", lambda: tmp_path)
    with pytest.raises(CorruptDataError) as caught:
        load_painting("the_scream")
    message = str(caught.value)
    assert str(changed) in message and hashlib.sha256(data).hexdigest() in message
    assert images.PAINTINGS["the_scream"].sha256 in message
    assert (
        "git checkout course_lib/data/paintings/the_scream.jpg" in message
        and "reinstall" in message
    )
    assert "load_image" in message
    assert changed.read_bytes() == data


def test_a_missing_packaged_painting_says_the_installation_is_incomplete(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "_paintings_folder", lambda: tmp_path)
    with pytest.raises(FileNotFoundError) as caught:
        load_painting("starry_night", 64)
    message = str(caught.value)
    assert str(tmp_path / "starry_night.jpg") in message and "incomplete" in message
    assert (
        "git checkout course_lib/data/paintings/starry_night.jpg" in message
        and "reinstall" in message
    )


def test_an_unknown_painting_is_refused_naming_the_course_paintings():
    with pytest.raises(ValueError, match="starry_night, the_scream"):
        load_painting("mona_lisa")
