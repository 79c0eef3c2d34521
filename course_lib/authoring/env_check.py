"""Check the installed environment against the project's pins (run by ``make env``).

Fails when a pinned package is missing or at another version, or when CUDA packages were pulled
in on a machine without an NVIDIA GPU (an unpinned torch does that, and costs several GB).
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def pinned_requirements(pyproject: Path = PYPROJECT) -> dict[str, str]:
    """``{normalised name: version}`` for every ``name==version`` dependency in pyproject.toml."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    pins = {}
    for line in project["dependencies"]:
        req = Requirement(line)
        (spec,) = req.specifier  # exactly one ==pin per dependency
        if spec.operator != "==":
            raise ValueError(f"{line!r} in {pyproject} is not an exact pin (name==version)")
        pins[normalise(req.name)] = spec.version
    return pins


def normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def version_mismatches(pins: dict[str, str]) -> list[str]:
    problems = []
    for name, wanted in pins.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name} is not installed (want {wanted})")
            continue
        if installed.split("+")[0] != wanted:  # '2.13.0+cpu' satisfies '2.13.0'
            problems.append(f"{name} {installed} is installed, the project pins {wanted}")
    return problems


def cuda_packages() -> list[str]:
    return sorted(
        d.metadata["Name"]
        for d in metadata.distributions()
        if d.metadata["Name"].lower().startswith("nvidia-")
    )


def has_nvidia_gpu() -> bool:
    return shutil.which("nvidia-smi") is not None or Path("/proc/driver/nvidia").exists()


def main() -> int:
    problems = version_mismatches(pinned_requirements())
    extra_cuda = cuda_packages()
    if extra_cuda and not has_nvidia_gpu():
        problems.append(
            "CUDA packages are installed on a machine with no NVIDIA GPU: "
            f"{', '.join(extra_cuda)}. Remove .venv and run 'make env' again "
            "(torch must come from the pinned CPU wheel)."
        )
    for problem in problems:
        print(f"env_check: {problem}", file=sys.stderr)
    if not problems:
        print(
            f"env_check: {len(pinned_requirements())} pinned packages match; no stray CUDA "
            "packages."
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
