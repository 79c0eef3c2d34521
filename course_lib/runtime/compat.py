"""Make ``import torchvision`` work beside a CPU-only torch wheel.

The torchvision 0.28.0 wheel on PyPI is built against CUDA. Next to the CPU build of torch 2.13.0
its compiled extension (``torchvision/_C.so``) cannot load, and ``import torchvision`` then fails
with ``RuntimeError: operator torchvision::nms does not exist``: the pure-Python module registers
fake (meta) kernels for ``nms`` and ``qnms`` without checking that their schemas exist.

``ensure_torchvision_importable`` defines those two schemas, and only when the extension really
cannot load. Datasets, transforms, models and utils then work; the C++ detection ops (nms,
roi_align, ...) and the ``torchvision.io`` decoders stay unavailable, so the course reads images
with PIL. Where the real extension loads (a matching CUDA or CPU install), this does nothing.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

# These restate the public signatures of torchvision.ops.nms / qnms.
_MISSING_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)

# The Library object must stay alive: its definitions are removed when it is garbage collected.
_fallback_library: torch.library.Library | None = None


def _extension_loads() -> bool:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return True  # torchvision not installed: nothing to repair
    candidates = sorted(Path(spec.submodule_search_locations[0]).glob("_C*.so")) + sorted(
        Path(spec.submodule_search_locations[0]).glob("_C*.pyd")
    )
    if not candidates:
        return False
    try:
        torch.ops.load_library(str(candidates[0]))
    except OSError:
        return False
    return True


def ensure_torchvision_importable() -> str:
    """Prepare torch so that torchvision imports; return which path was taken.

    Returns ``"native"`` when torchvision's own extension loads (nothing changed),
    ``"already-imported"`` when torchvision was imported before, and ``"fallback"`` when the
    missing operator schemas were defined.
    """
    global _fallback_library
    if "torchvision" in sys.modules:
        return "already-imported"
    if _fallback_library is not None:
        return "fallback"
    if _extension_loads():
        return "native"
    _fallback_library = torch.library.Library("torchvision", "DEF")
    for schema in _MISSING_SCHEMAS:
        _fallback_library.define(schema)
    return "fallback"
