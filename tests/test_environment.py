"""The pins: pyproject.toml, environment.yml and constraints.txt agree; this venv matches them."""

from __future__ import annotations

import functools
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from course_lib.authoring import env_check

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = REPO / "pyproject.toml"
ENVIRONMENT_YML = REPO / "environment.yml"
CONSTRAINTS = REPO / "constraints.txt"


def normalise(name: str) -> str:
    # PEP 503 normalisation, written independently of env_check.normalise.
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    return [Requirement(line) for line in project["dependencies"]]


def exact_pins(requirements) -> dict[str, str]:
    pins = {}
    for req in requirements:
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{req} is not an exact '==' pin"
        name = normalise(req.name)
        assert name not in pins, f"{req.name} listed twice"
        pins[name] = specs[0].version
    return pins


def test_every_pyproject_dependency_is_an_exact_pin():
    requirements = pyproject_requirements()
    assert len(requirements) >= 10
    for req in requirements:
        specs = list(req.specifier)
        assert len(specs) == 1, f"{req} must have exactly one version specifier"
        assert specs[0].operator == "==", f"{req} must be pinned with '=='"
        assert "*" not in specs[0].version, f"{req} uses a wildcard"
        assert not req.marker and not req.url, f"{req} should be a plain name==version"


def test_env_check_reads_the_same_pins():
    assert env_check.pinned_requirements() == exact_pins(pyproject_requirements())


def test_environment_yml_lists_the_same_packages_and_versions():
    assert ENVIRONMENT_YML.is_file(), (
        f"{ENVIRONMENT_YML} is missing; it must mirror pyproject.toml's pins"
    )
    env = yaml.safe_load(ENVIRONMENT_YML.read_text(encoding="utf-8"))
    dependencies = env["dependencies"]
    conda = [d for d in dependencies if isinstance(d, str)]
    pip_sections = [d["pip"] for d in dependencies if isinstance(d, dict) and "pip" in d]
    assert "python=3.11" in [c.replace(" ", "") for c in conda], conda
    assert "pip" in conda, "pip must be a conda dependency for the pip: section to install"
    assert len(pip_sections) == 1, "expected exactly one 'pip:' section"

    from_yml = exact_pins(Requirement(line) for line in pip_sections[0])
    from_pyproject = exact_pins(pyproject_requirements())
    missing = sorted(set(from_pyproject) - set(from_yml))
    extra = sorted(set(from_yml) - set(from_pyproject))
    assert not missing and not extra, f"environment.yml lacks {missing}, has extra {extra}"
    differ = {
        n: (from_yml[n], from_pyproject[n])
        for n in from_pyproject
        if from_yml[n] != from_pyproject[n]
    }
    assert not differ, f"environment.yml vs pyproject.toml versions differ: {differ}"


def test_python_version_agrees_between_pyproject_and_environment_yml():
    assert ENVIRONMENT_YML.is_file(), f"{ENVIRONMENT_YML} is missing"
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    env = yaml.safe_load(ENVIRONMENT_YML.read_text(encoding="utf-8"))
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    version = python.split("=")[-1]
    from packaging.specifiers import SpecifierSet

    assert f"{version}.0" in SpecifierSet(project["requires-python"]), (
        python,
        project["requires-python"],
    )


def test_constraints_pin_every_dependency_to_the_same_version():
    constraints = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"constraints.txt line {line!r} is not name==version"
        constraints[normalise(name)] = version.strip()
    pins = exact_pins(pyproject_requirements())
    missing = sorted(set(pins) - set(constraints))
    assert not missing, f"constraints.txt does not pin {missing}"
    differ = {
        n: (constraints[n], pins[n])
        for n in pins
        if constraints[n].split("+")[0] != pins[n].split("+")[0]
    }
    assert not differ, f"constraints.txt vs pyproject.toml: {differ}"


def test_this_venv_matches_the_pins():
    assert env_check.version_mismatches(env_check.pinned_requirements()) == []


def test_no_cuda_packages_without_an_nvidia_gpu():
    if env_check.has_nvidia_gpu():
        pytest.skip("an NVIDIA GPU is present; CUDA packages are allowed")
    assert env_check.cuda_packages() == []


def write_pyproject(path: Path, dependencies: list[str]) -> Path:
    deps = ",\n".join(f'    "{d}"' for d in dependencies)
    path.write_text(
        f'[project]\nname = "x"\nversion = "0"\ndependencies = [\n{deps},\n]\n', encoding="utf-8"
    )
    return path


def test_version_mismatches_reports_a_wrong_pin_and_a_missing_package(tmp_path):
    import numpy

    pyproject = write_pyproject(
        tmp_path / "pyproject.toml",
        [
            "numpy==0.0.1",
            "NumPy_Fake_Package_xyz==1.0",
            "torch==" + env_check.pinned_requirements()["torch"],
        ],
    )
    pins = env_check.pinned_requirements(pyproject)
    assert pins["numpy"] == "0.0.1" and "numpy-fake-package-xyz" in pins
    problems = env_check.version_mismatches(pins)
    assert len(problems) == 2, problems
    assert any("numpy" in p and numpy.__version__ in p and "0.0.1" in p for p in problems)
    assert any("numpy-fake-package-xyz is not installed" in p for p in problems)


def test_local_version_suffix_satisfies_the_pin(monkeypatch):
    monkeypatch.setattr(env_check.metadata, "version", lambda name: "2.13.0+cpu")
    assert env_check.version_mismatches({"torch": "2.13.0"}) == []
    assert env_check.version_mismatches({"torch": "2.13.1"}) != []


def test_pinned_requirements_rejects_a_range(tmp_path):
    pyproject = write_pyproject(tmp_path / "pyproject.toml", ["torch>=2.0"])
    with pytest.raises(ValueError, match="not an exact pin"):
        env_check.pinned_requirements(pyproject)


def test_main_returns_nonzero_for_a_wrong_pin(monkeypatch, tmp_path, capsys):
    pyproject = write_pyproject(tmp_path / "pyproject.toml", ["numpy==0.0.1"])
    monkeypatch.setattr(
        env_check,
        "pinned_requirements",
        functools.partial(env_check.pinned_requirements, pyproject),
    )
    monkeypatch.setattr(env_check, "cuda_packages", lambda: [])
    assert env_check.main() != 0
    assert "numpy" in capsys.readouterr().err


def test_main_returns_zero_when_pins_match(monkeypatch, capsys):
    monkeypatch.setattr(env_check, "cuda_packages", lambda: [])
    assert env_check.main() == 0
    assert "match" in capsys.readouterr().out


def test_main_flags_cuda_packages_on_a_machine_without_gpu(monkeypatch, capsys):
    monkeypatch.setattr(env_check, "cuda_packages", lambda: ["nvidia-cublas-cu12"])
    monkeypatch.setattr(env_check, "has_nvidia_gpu", lambda: False)
    assert env_check.main() != 0
    assert "nvidia-cublas-cu12" in capsys.readouterr().err
    monkeypatch.setattr(env_check, "has_nvidia_gpu", lambda: True)
    assert env_check.main() == 0
