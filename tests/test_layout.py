"""The package's shape: one home per concept, imports that go one way, no private names shared.

The README's layout table names every module of ``course_lib``; these tests keep it and the tree
in step, and check the dependency rules it states by importing modules in fresh interpreters.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.runtime.config import REPO_ROOT

PACKAGE = REPO_ROOT / "course_lib"
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules_of(package: str) -> list[str]:
    return [module_name(p) for p in MODULES if module_name(p).startswith(f"course_lib.{package}.")]


def loaded_by(module: str) -> set[str]:
    """The course_lib modules that importing ``module`` loads, in a fresh interpreter."""
    code = (
        f"import sys, {module}\n"
        "print('\\n'.join(m for m in sys.modules if m.split('.')[0] == 'course_lib'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def readme_table_paths() -> set[str]:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Where each concept lives in `course_lib`", 1)[1].split("\n## ", 1)[
        0
    ]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return set(re.findall(r"`([a-z0-9_/]+\.py)`", "\n".join(rows)))


def test_the_readme_table_names_every_module_and_only_existing_ones():
    in_tree = {p.relative_to(PACKAGE).as_posix() for p in MODULES}
    in_table = readme_table_paths()
    assert in_tree - in_table == set(), "modules missing from the README's layout table"
    assert in_table - in_tree == set(), "the README's layout table names files that do not exist"


# A loss is a function of tensors: importing one must not load a data set, a judge or a loop.
# The condition layout of StarGAN (data/face_conditions.py) is a description, not a data set.
LOSS_MAY_LOAD = re.compile(
    r"course_lib(\.runtime(\.compat)?|\.losses(\.\w+)?|\.data|\.data\.face_conditions)?"
)


@pytest.mark.parametrize("module", modules_of("losses"))
def test_importing_a_loss_loads_no_data_set_judge_or_loop(module):
    extra = {m for m in loaded_by(module) if not LOSS_MAY_LOAD.fullmatch(m)}
    assert extra == set(), f"importing {module} also loads {sorted(extra)}"


@pytest.mark.parametrize("module", modules_of("models"))
def test_importing_a_model_loads_no_training_loss_objective_or_evaluation(module):
    forbidden = ("training", "losses", "objectives", "evaluation", "baselines", "authoring")
    loaded = loaded_by(module)
    extra = {m for m in loaded if m.split(".")[1:2] and m.split(".")[1] in forbidden}
    assert extra == set(), f"importing {module} also loads {sorted(extra)}"


def test_the_gradient_penalty_comes_without_mnist_a_judge_or_the_training_loop():
    loaded = loaded_by("course_lib.losses.adversarial")
    assert "course_lib.losses.adversarial" in loaded  # the probe itself works
    assert not {"course_lib.data.mnist", "course_lib.evaluation.digit_judge"} & loaded
    assert not any(m.startswith("course_lib.training") for m in loaded)


def imports_of(tree: ast.AST) -> list[ast.ImportFrom]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]


def test_package_files_import_nothing_but_the_torchvision_guard():
    for init in sorted(PACKAGE.rglob("__init__.py")):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        imported = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
        if init.parent == PACKAGE:  # course_lib/__init__.py must fix torchvision before anything
            assert [n.module for n in imported] == ["course_lib.runtime.compat"]
        else:
            assert imported == [], f"{init.relative_to(REPO_ROOT)} imports; import from the module"


def code_sources() -> dict[str, str]:
    """Every module, script and bench file, and each notebook's code cells, by name."""
    sources = {str(p.relative_to(REPO_ROOT)): p.read_text(encoding="utf-8") for p in MODULES}
    for folder in ("scripts", "bench"):
        for path in sorted((REPO_ROOT / folder).glob("*.py")):
            sources[str(path.relative_to(REPO_ROOT))] = path.read_text(encoding="utf-8")
    for notebook in sorted((REPO_ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        code = [
            "".join(c["source"]) for c in cells if c["cell_type"] == "code"
        ]  # IPython magics are not Python: drop those lines
        text = "\n".join(
            line for cell in code for line in cell.splitlines() if line[:1] not in "%!"
        )
        sources[str(notebook.relative_to(REPO_ROOT))] = text
    return sources


def test_no_module_imports_another_modules_private_names():
    found = []
    for name, source in code_sources().items():
        for node in imports_of(ast.parse(source)):
            if node.module.startswith("course_lib"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                found += [f"{name}: from {node.module} import {p}" for p in private]
    assert found == [], "private names imported across modules:\n" + "\n".join(found)


def test_the_packages_depend_on_each_other_without_cycles():
    edges: dict[str, set[str]] = {}
    for path in MODULES:
        package = module_name(path).split(".")[1]
        for node in imports_of(ast.parse(path.read_text(encoding="utf-8"))):
            parts = node.module.split(".")
            if parts[0] == "course_lib" and len(parts) > 1 and parts[1] != package:
                edges.setdefault(package, set()).add(parts[1])

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in edges.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(p for p in edges if reaches(p, p, {p}))
    assert cycles == [], f"packages in an import cycle: {cycles}; edges: {edges}"
