"""The torchvision import guard (course_lib.runtime.compat).

Import order matters here, so the checks that need a clean interpreter run in a subprocess.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import course_lib
from course_lib.runtime import compat

REPO = Path(__file__).resolve().parent.parent


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_torchvision_imports_after_course_lib():
    import torchvision

    assert hasattr(torchvision, "__version__")


def test_transforms_v2_work_on_cpu():
    from torchvision.transforms import v2

    transform = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    image = torch.arange(28 * 28, dtype=torch.uint8).view(28, 28, 1)  # (H, W, C) uint8
    out = transform(image.numpy())
    assert out.shape == (1, 28, 28) and out.dtype == torch.float32
    torch.testing.assert_close(out, image.permute(2, 0, 1).float() / 255)

    flipped = v2.RandomHorizontalFlip(p=1.0)(out)
    assert torch.equal(flipped, out.flip(-1))


def test_make_grid_works_on_cpu():
    from torchvision.utils import make_grid

    images = torch.rand(6, 1, 4, 4)
    grid = make_grid(images, nrow=3, padding=1, pad_value=0.5)
    # make_grid repeats grey to 3 channels; 2 rows x 3 cols of 4x4 with padding 1 all round.
    assert grid.shape == (3, 2 * 5 + 1, 3 * 5 + 1)
    torch.testing.assert_close(grid[0, 1:5, 1:5], images[0, 0])
    torch.testing.assert_close(grid[1, 6:10, 11:15], images[5, 0])


def test_torchvision_path_matches_whether_the_extension_loads():
    import torchvision.extension

    assert course_lib.TORCHVISION_PATH in ("native", "fallback")
    expected = "native" if torchvision.extension._has_ops() else "fallback"
    assert course_lib.TORCHVISION_PATH == expected


def test_fallback_library_kept_alive_only_on_the_fallback_path():
    if course_lib.TORCHVISION_PATH == "fallback":
        assert compat._fallback_library is not None
        assert hasattr(torch.ops.torchvision, "nms") and hasattr(torch.ops.torchvision, "qnms")
    else:
        assert compat._fallback_library is None


def test_already_imported_returns_that_and_defines_nothing_in_process():
    import torchvision  # noqa: F401

    before = compat._fallback_library
    assert compat.ensure_torchvision_importable() == "already-imported"
    assert compat._fallback_library is before  # no new Library was created


def test_plain_import_fails_without_the_guard():
    result = run_python("import torch\nimport torchvision\n")
    if result.returncode == 0:
        pytest.skip("torchvision's native extension loads here; the guard is not needed")
    assert "torchvision::nms does not exist" in result.stderr, result.stderr[-2000:]


def test_guard_then_import_works_in_a_fresh_interpreter():
    result = run_python(
        """
        import torch
        from course_lib.runtime.compat import ensure_torchvision_importable
        path = ensure_torchvision_importable()
        import torchvision
        from torchvision.transforms import v2
        from torchvision.utils import make_grid
        assert make_grid(torch.rand(2, 1, 4, 4)).shape[0] == 3
        # A second call after the import must report it and change nothing.
        print(path, ensure_torchvision_importable())
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    path, second = result.stdout.split()
    assert path in ("native", "fallback")
    assert second == "already-imported"


def test_guard_defines_nothing_when_torchvision_is_already_in_sys_modules():
    # A stand-in module in sys.modules plays "torchvision was imported first".
    result = run_python(
        """
        import sys, types
        import torch
        sys.modules["torchvision"] = types.ModuleType("torchvision")
        from course_lib.runtime import compat
        print(compat.ensure_torchvision_importable())
        print(compat._fallback_library is None)
        print(hasattr(torch.ops.torchvision, "nms"))
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["already-imported", "True", "False"]
