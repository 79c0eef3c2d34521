"""Trained models as ONNX files for the book's in-browser demos (``book/demos.md``).

``export_for_browser`` writes, into ``exported/<profile>/`` beside the notebook that trained the
model (the book publishes ``notebooks/exported/book/``; the other profiles' folders are
git-ignored, so a smoke or cpu run never replaces the book's files):

- ``<name>.onnx``: the model in eval mode with a free batch size. Weight tensors of 1,024 values or
  more are stored as float16 and cast back to float32 where the graph uses them: half the bytes,
  with float32 arithmetic.
- ``<name>.json``: the record a demo and a reader need: each input's and output's shape and value
  range, the file's SHA-256 (the demo checks it before running the file), the run that trained
  the model (notebook, profile, data, seed, steps), and the check below.
- ``<name>.examples.png`` when ``examples`` are given: images a demo starts from (held-out faces,
  edge maps), side by side in one strip, 8 bits per channel.

Two checks, each on seeded example inputs and on their first row alone, against the PyTorch model:
the exported graph with float32 weights must agree to within ``TOLERANCE`` (the export itself),
and the stored file to within half a grey level of the displayed image (the float16 weights).
Both largest differences are recorded.
"""

from __future__ import annotations

import copy
import json
import platform
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
import torch
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from torch import nn

from course_lib.runtime.checksums import sha256_of

EXPORT_ROOT = Path("exported")  # relative to the notebooks' folder, where they run
HALF_PRECISION_MIN_VALUES = 1024  # smaller tensors (biases, norm statistics) stay float32
TOLERANCE = 1e-4  # onnxruntime on the float32 graph vs PyTorch, largest |difference|
HALF_A_GREY_LEVEL = 0.5 / 255  # of an image in [0, 1]: the float16 file vs PyTorch
MAX_BYTES = 5_000_000  # one demo's model; the book carries six


class DecoderOnly(nn.Module):
    """A VAE's decoder as a model of its own: codes (B, latent) -> pixel means in [0, 1]."""

    def __init__(self, vae: nn.Module):
        super().__init__()
        self.vae = vae

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z)


def export_folder(profile: str, root: Path = EXPORT_ROOT) -> Path:
    """Where a run in ``profile`` puts its exported models."""
    return Path(root) / profile


def store_weights_in_half_precision(model: onnx.ModelProto) -> onnx.ModelProto:
    """Each float32 initializer of HALF_PRECISION_MIN_VALUES values or more becomes a float16
    initializer followed by a Cast to float32 under the original name, so no node changes."""
    graph = model.graph
    kept, halves, casts = [], [], []
    for tensor in graph.initializer:
        values = numpy_helper.to_array(tensor)
        if tensor.data_type != TensorProto.FLOAT or values.size < HALF_PRECISION_MIN_VALUES:
            kept.append(tensor)
            continue
        halves.append(numpy_helper.from_array(values.astype(np.float16), tensor.name + "_fp16"))
        casts.append(
            helper.make_node("Cast", [tensor.name + "_fp16"], [tensor.name], to=TensorProto.FLOAT)
        )
    del graph.initializer[:]
    graph.initializer.extend(kept + halves)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return model


def save_strip(images: torch.Tensor, path: Path) -> None:
    """Images (N, C, H, W) in [0, 1], C = 1 or 3, as one PNG strip (H, N * W), 8 bits."""
    n, channels, height, width = images.shape
    pixels = (images.clamp(0, 1) * 255).round().to(torch.uint8)
    strip = pixels.permute(2, 0, 3, 1).reshape(height, n * width, channels)  # (H, N*W, C)
    mode = "L" if channels == 1 else "RGB"
    Image.fromarray(strip.squeeze(-1).numpy() if channels == 1 else strip.numpy(), mode).save(path)


def load_strip(path: Path, count: int, channels: int) -> torch.Tensor:
    """The images a strip holds, (count, channels, H, W) float32 in [0, 1]."""
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("L" if channels == 1 else "RGB"), dtype=np.float32)
    height = pixels.shape[0]
    pixels = pixels.reshape(height, count, -1, channels)  # (H, N, W, C)
    return torch.from_numpy(pixels / 255).permute(1, 3, 0, 2).contiguous()  # (N, C, H, W)


def largest_difference(
    module: nn.Module, model: onnx.ModelProto, inputs: dict[str, torch.Tensor]
) -> float:
    """Largest |onnxruntime - PyTorch| over ``inputs`` and over their first row alone."""
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    largest = 0.0
    for batch in (inputs, {key: value[:1] for key, value in inputs.items()}):
        ours = session.run(None, {key: value.numpy() for key, value in batch.items()})[0]
        with torch.no_grad():
            theirs = module(*batch.values()).numpy()
        largest = max(largest, float(np.abs(ours - theirs).max()))
    return largest


def export_for_browser(
    module: nn.Module,
    inputs: dict[str, torch.Tensor],
    name: str,
    folder: Path,
    record: dict[str, Any],
    output_range: tuple[float, float],
    examples: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Export ``module`` (called as ``module(*inputs.values())``) to ``folder/name.onnx``.

    ``inputs`` are example inputs named as the file will name them, batch first; the check runs
    on them. ``record`` says what trained the model and what the demo shows; it is stored with
    the file's facts in ``folder/name.json``, which is returned. Raises a ValueError when the file
    disagrees with PyTorch or is larger than MAX_BYTES.
    """
    module = copy.deepcopy(module).cpu().eval()
    inputs = {key: value.detach().cpu() for key, value in inputs.items()}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.onnx"
    batch = torch.export.Dim("batch", min=1, max=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notices about its own internals
        program = torch.onnx.export(
            module,
            tuple(inputs.values()),
            input_names=list(inputs),
            output_names=["image"],
            dynamic_shapes=tuple({0: batch} for _ in inputs),
            dynamo=True,
            verbose=False,
        )
    fixed = [
        graph_input.name
        for graph_input in program.model_proto.graph.input
        if not graph_input.type.tensor_type.shape.dim[0].dim_param
    ]
    if fixed:
        raise ValueError(
            f"The exporter fixed the batch size of {', '.join(fixed)}: the model's forward turns "
            "the batch size into a Python number (len(x), int(x.shape[0]), a Python comparison "
            "on it). Compare x.shape[0] instead, so that a demo can run any batch size."
        )
    exported = largest_difference(module, program.model_proto, inputs)
    if exported > TOLERANCE:
        raise ValueError(
            f"The exported graph of {name} disagrees with the PyTorch model by {exported:.2e} "
            f"(tolerance {TOLERANCE:g}): the export is wrong, do not publish it."
        )
    stored = store_weights_in_half_precision(program.model_proto)
    low, high = output_range
    allowed = HALF_A_GREY_LEVEL * (high - low)
    rounded = largest_difference(module, stored, inputs)
    if rounded > allowed:
        raise ValueError(
            f"With float16 weights {name} moves {rounded:.2e} from the PyTorch model, more than "
            f"half a grey level ({allowed:.2e}); export it with float32 weights instead."
        )
    onnx.save(stored, path)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ValueError(
            f"{path} has {size:,} bytes, more than the {MAX_BYTES:,} a demo may load; export a "
            "smaller model (fewer channels) or leave it out of the demos."
        )
    facts = {
        "name": name,
        "file": path.name,
        "sha256": sha256_of(path),
        "bytes": size,
        "inputs": {key: list(value.shape[1:]) for key, value in inputs.items()},
        "output": list(module(*inputs.values()).shape[1:]),
        "output_range": list(output_range),
        "weights": f"float16 for tensors of {HALF_PRECISION_MIN_VALUES:,}+ values, else float32",
        "check": {
            "inputs": len(next(iter(inputs.values()))),
            "float32_graph_max_abs_difference": exported,
            "float32_tolerance": TOLERANCE,
            "float16_file_max_abs_difference": rounded,
            "float16_tolerance": allowed,
        },
        "software": {
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
            "python": platform.python_version(),
        },
    }
    if examples is not None:
        save_strip(examples, folder / f"{name}.examples.png")
        facts["examples"] = {
            "file": f"{name}.examples.png",
            "count": len(examples),
            "shape": list(examples.shape[1:]),
        }
    full_record = {**facts, **record}
    (folder / f"{name}.json").write_text(json.dumps(full_record, indent=1) + "\n")
    return full_record


def describe_export(record: dict[str, Any]) -> str:
    """One line for a notebook's output: the file, its size, digest and checks."""
    check = record["check"]
    return (
        f"{record['file']}: {record['bytes'] / 1e6:.2f} MB, sha256 {record['sha256'][:12]}...; "
        f"onnxruntime vs PyTorch on {check['inputs']} inputs and on one: largest difference "
        f"{check['float32_graph_max_abs_difference']:.1e} with float32 weights, "
        f"{check['float16_file_max_abs_difference']:.1e} as stored (float16)"
    )
