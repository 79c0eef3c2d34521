"""course_lib.export.browser, and the models the notebooks exported for the book's live demos.

The unit checks export small models of every demo's architecture and compare onnxruntime with
PyTorch; the checks of the published files (notebooks/exported/book/) read their records. The
browser side (book/_demos/*.js) is checked against the same records in tests/test_book.py.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from torch import nn

from course_lib.export import browser
from course_lib.models.conditional import ConditionalDCGANGenerator
from course_lib.models.gan import DCGANGenerator
from course_lib.models.pix2pix import UNetGenerator
from course_lib.models.stargan import StarGANGenerator
from course_lib.models.vae import MLPVAE, FaceVAE
from course_lib.runtime.checksums import sha256_of

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "notebooks" / "exported" / "book"
DEMOS = {  # the model each demo of book/demos.md loads, and its kind
    "mnist_vae_decoder": "latent-sliders",
    "face_vae_decoder": "latent-sliders",
    "dcgan_generator": "latent-walk",
    "cgan_generator": "class-conditional",
    "pix2pix_unet": "sketch-to-image",
    "stargan_generator": "attribute-edit",
    "stargan_residual_long": "attribute-edit",  # scripts/long_run_stargan.py --export
}


ARCHITECTURES = [name for name in DEMOS if name != "stargan_residual_long"]  # the same as StarGAN


def small_models() -> dict[str, tuple[nn.Module, dict[str, torch.Tensor], tuple[float, float]]]:
    """Each demo's architecture at a small width, with seeded weights and example inputs."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    return {
        "mnist_vae_decoder": (
            browser.DecoderOnly(MLPVAE(latent_dim=8)),
            {"z": torch.randn(3, 8, generator=g)},
            (0.0, 1.0),
        ),
        "face_vae_decoder": (
            browser.DecoderOnly(FaceVAE(latent_dim=8, size=32)),
            {"z": torch.randn(3, 8, generator=g)},
            (0.0, 1.0),
        ),
        "dcgan_generator": (
            DCGANGenerator(16, 28, 1, 8),
            {"z": torch.randn(3, 16, generator=g)},
            (-1.0, 1.0),
        ),
        "cgan_generator": (
            ConditionalDCGANGenerator(16, 10, 28, 1, 8),
            {"z": torch.randn(3, 16, generator=g), "condition": torch.eye(10)[[1, 5, 9]]},
            (-1.0, 1.0),
        ),
        "pix2pix_unet": (
            UNetGenerator(1, 3, 32, 8),
            {"edges": torch.rand(3, 1, 32, 32, generator=g) * 2 - 1},
            (-1.0, 1.0),
        ),
        "stargan_generator": (
            StarGANGenerator(3, 13, 8, 2, 1),
            {
                "face": torch.rand(3, 3, 32, 32, generator=g) * 2 - 1,
                "condition": torch.rand(3, 13, generator=g).round(),
            },
            (-1.0, 1.0),
        ),
    }


def run(path: Path, inputs: dict[str, torch.Tensor]) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {k: v.numpy() for k, v in inputs.items()})[0]


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_every_demo_architecture_exports_and_matches_pytorch(name, tmp_path):
    """The float32 graph equals PyTorch to 1e-4 (recorded by the export), and the stored float16
    file stays within half a grey level, at batch sizes other than the example's too."""
    model, inputs, output_range = small_models()[name]
    record = browser.export_for_browser(
        model, inputs, name, tmp_path, {"demo": DEMOS[name]}, output_range
    )
    path = tmp_path / record["file"]
    assert record["sha256"] == sha256_of(path)
    check = record["check"]
    assert check["float32_graph_max_abs_difference"] <= browser.TOLERANCE
    half_a_level = 0.5 / 255 * (output_range[1] - output_range[0])
    assert check["float16_tolerance"] == pytest.approx(half_a_level)
    model.eval()
    for rows in (2, 3):
        batch = {k: v[:rows] for k, v in inputs.items()}
        ours = run(path, batch)
        with torch.no_grad():
            theirs = model(*batch.values()).numpy()
        assert ours.shape == (rows, *record["output"])
        np.testing.assert_allclose(ours, theirs, atol=half_a_level, rtol=0)
    assert ours.min() >= output_range[0] - 1e-6 and ours.max() <= output_range[1] + 1e-6


def test_half_precision_storage_halves_the_file_and_keeps_small_tensors(tmp_path):
    model, inputs, output_range = small_models()["pix2pix_unet"]
    record = browser.export_for_browser(model, inputs, "unet", tmp_path, {}, output_range)
    stored = onnx.load(tmp_path / record["file"])
    float32_bytes = 4 * sum(p.numel() for p in model.parameters())
    assert record["bytes"] < 0.6 * float32_bytes
    kinds = {t.name: t.data_type for t in stored.graph.initializer}
    assert onnx.TensorProto.FLOAT16 in kinds.values()
    for tensor in stored.graph.initializer:
        if tensor.data_type == onnx.TensorProto.FLOAT:
            assert np.prod(tensor.dims) < browser.HALF_PRECISION_MIN_VALUES, tensor.name


class CountsRowsWithLen(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * len(x)  # len() turns the batch size into a Python number


def test_an_export_that_fixes_the_batch_size_is_refused(tmp_path):
    with pytest.raises(ValueError, match="fixed the batch size of x"):
        browser.export_for_browser(
            CountsRowsWithLen(), {"x": torch.ones(2, 3)}, "fixed", tmp_path, {}, (0.0, 1.0)
        )
    assert not (tmp_path / "fixed.onnx").exists()


def test_a_graph_that_disagrees_with_pytorch_is_refused(tmp_path, monkeypatch):
    """Negative control for the export check: the exporter handed other weights."""
    export = torch.onnx.export

    def export_other_weights(module, *args, **kwargs):
        other = copy.deepcopy(module)
        with torch.no_grad():
            for parameter in other.parameters():
                parameter.mul_(1.5)
        return export(other, *args, **kwargs)

    monkeypatch.setattr(browser.torch.onnx, "export", export_other_weights)
    model, inputs, output_range = small_models()["dcgan_generator"]
    with pytest.raises(ValueError, match="exported graph of bad disagrees"):
        browser.export_for_browser(model, inputs, "bad", tmp_path, {}, output_range)
    assert not (tmp_path / "bad.onnx").exists() and not (tmp_path / "bad.json").exists()


def test_weights_that_do_not_survive_float16_are_refused(tmp_path, monkeypatch):
    """Negative control for the storage check: the stored weights corrupted."""

    def corrupt(model):
        for tensor in model.graph.initializer:
            if tensor.data_type == onnx.TensorProto.FLOAT and np.prod(tensor.dims) >= 64:
                values = onnx.numpy_helper.to_array(tensor) * 1.5
                tensor.CopyFrom(onnx.numpy_helper.from_array(values, tensor.name))
        return model

    monkeypatch.setattr(browser, "store_weights_in_half_precision", corrupt)
    model, inputs, output_range = small_models()["dcgan_generator"]
    with pytest.raises(ValueError, match="more than half a grey level"):
        browser.export_for_browser(model, inputs, "bad", tmp_path, {}, output_range)
    assert not (tmp_path / "bad.onnx").exists()


def test_a_model_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(browser, "MAX_BYTES", 10_000)
    model, inputs, output_range = small_models()["dcgan_generator"]
    with pytest.raises(ValueError, match="more than the 10,000 a demo may load"):
        browser.export_for_browser(model, inputs, "big", tmp_path, {}, output_range)


def test_example_strips_round_trip_at_eight_bits(tmp_path):
    images = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    browser.save_strip(images, tmp_path / "strip.png")
    back = browser.load_strip(tmp_path / "strip.png", 5, 3)
    assert back.shape == images.shape
    assert (back - images).abs().max() <= 0.5 / 255 + 1e-6
    grey = images[:, :1]
    browser.save_strip(grey, tmp_path / "grey.png")
    assert (browser.load_strip(tmp_path / "grey.png", 5, 1) - grey).abs().max() <= 0.5 / 255 + 1e-6


def test_attribute_edit_fields_describe_the_condition_layout_and_the_faces():
    from course_lib.data.face_conditions import GROUPS, MASK
    from course_lib.data.face_domains import two_label_sets
    from course_lib.export.demo_records import attribute_edit_fields

    faces = two_label_sets(6, size=32, seed=3)
    fields = attribute_edit_fields(faces, 4)
    assert fields["mask_columns"] == [MASK.start, MASK.stop]
    for group in GROUPS:
        layout = fields["condition_layout"][group.attribute]
        assert layout["columns"] == [group.columns.start, group.columns.stop]
        assert layout["dataset"] == group.dataset
        # a one-hot group has one entry per value, a binary group one entry for two values
        assert len(layout["values"]) == (2 if group.binary else group.width)
    assert [f["hair_colour"] for f in fields["example_attributes"]] == (
        faces.attributes["hair_colour"][:4].tolist()
    )


# ------------------------------------------------------------------ the files the book publishes
def published_records() -> dict[str, dict]:
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(PUBLISHED.glob("*.json"))
    }


def test_the_book_publishes_one_model_per_demo_from_the_book_profile():
    records = published_records()
    assert set(records) == set(DEMOS), f"published {sorted(records)}"
    for name, record in records.items():
        assert record["demo"] == DEMOS[name]
        # a notebook's book run, or a longer run of a script that says so
        assert record["profile"] == "book" or "trained_by" in record, name
        assert (ROOT / "notebooks" / f"{record['notebook']}.ipynb").is_file()
        check = record["check"]
        assert check["float32_graph_max_abs_difference"] <= check["float32_tolerance"] == 1e-4
        assert check["float16_file_max_abs_difference"] <= check["float16_tolerance"]


def test_published_models_match_their_checksums_and_the_size_limits():
    records = published_records()
    total = 0
    for name, record in records.items():
        path = PUBLISHED / record["file"]
        assert sha256_of(path) == record["sha256"], f"{path} changed after its export"
        assert path.stat().st_size == record["bytes"] <= browser.MAX_BYTES
        total += record["bytes"]
    assert total < 20_000_000, f"the demos load {total:,} bytes of models"


def test_published_models_run_at_any_batch_size_within_their_output_range():
    for name, record in published_records().items():
        session = onnxruntime.InferenceSession(
            str(PUBLISHED / record["file"]), providers=["CPUExecutionProvider"]
        )
        rng = np.random.default_rng(0)
        for rows in (1, 5):
            feeds = {
                key: rng.uniform(-1, 1, (rows, *shape)).astype(np.float32)
                for key, shape in record["inputs"].items()
            }
            output = session.run(None, feeds)[0]
            assert output.shape == (rows, *record["output"]), name
            low, high = record["output_range"]
            assert low - 1e-6 <= output.min() and output.max() <= high + 1e-6, name


def test_published_examples_are_the_images_the_record_describes():
    for name, record in published_records().items():
        if "examples" not in record:
            continue
        examples = record["examples"]
        channels = examples["shape"][0]
        images = browser.load_strip(PUBLISHED / examples["file"], examples["count"], channels)
        assert list(images.shape[1:]) == examples["shape"], name
        assert list(images.shape[1:]) == record["inputs"][next(iter(record["inputs"]))], name
