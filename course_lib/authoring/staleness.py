"""Are a notebook's stored outputs current? A digest of each ``course_lib`` module it imports.

When a notebook is executed, ``module_digests`` records, in its metadata, a short sha256 of every
``course_lib`` module the notebook imports, directly or through other modules (imports inside
functions included: they are found by reading the source, not by running it). ``make stale`` then
lists every notebook whose stored outputs were produced by other code than the code now on disk,
naming the modules that changed.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import nbformat

from course_lib.runtime.profiles import NOTEBOOK_SETTINGS, SPEED_SETTINGS

PACKAGE = "course_lib"
PROFILES_MODULE = "course_lib.runtime.profiles"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def module_file(name: str) -> Path | None:
    """``course_lib.data.mnist`` -> its ``.py`` file (``__init__.py`` for a package); else None."""
    parts = name.split(".")[1:]
    candidate = PACKAGE_ROOT.joinpath(*parts)
    if candidate.is_dir() and (candidate / "__init__.py").exists():
        return candidate / "__init__.py"
    if candidate.with_suffix(".py").exists():
        return candidate.with_suffix(".py")
    return None


def imported_names(tree: ast.AST) -> set[str]:
    """Every ``course_lib`` module an AST imports; ``from m import x`` counts ``m.x`` when ``x``
    is itself a module."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.split(".")[0] == PACKAGE and module_file(name)}


def with_parents(name: str) -> set[str]:
    """``a.b.c`` -> {``a``, ``a.b``, ``a.b.c``}: importing a module runs its packages' __init__."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def imported_modules(code: str) -> set[str]:
    """The ``course_lib`` modules that ``code`` imports, followed through the package."""
    pending = imported_names(ast.parse(code))
    found: set[str] = set()
    while pending:
        name = pending.pop()
        for module in with_parents(name) - found:
            found.add(module)
            pending |= imported_names(ast.parse(module_file(module).read_text(encoding="utf-8")))
    return found


def notebook_code(notebook: nbformat.NotebookNode) -> str:
    """The notebook's code cells as one Python source; IPython's ``%`` and ``!`` lines dropped."""
    lines = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            lines += [
                ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!"))
            ]
    return "\n".join(lines)


def module_digests(notebook: nbformat.NotebookNode, stem: str) -> dict[str, str]:
    """{module: first 12 hex digits of the sha256 of its file} for every module notebook ``stem``
    imports; for the profiles table, only this notebook's own settings (and the speed switches),
    so that resizing one notebook leaves the others current."""
    digests = {}
    for name in sorted(imported_modules(notebook_code(notebook))):
        content = module_file(name).read_bytes()
        if name == PROFILES_MODULE:
            content = repr((NOTEBOOK_SETTINGS.get(stem), SPEED_SETTINGS)).encode()
        digests[name] = hashlib.sha256(content).hexdigest()[:12]
    return digests


def why_stale(path: str | Path) -> str | None:
    """None if the stored outputs of ``path`` were produced by the code now on disk; else why."""
    notebook = nbformat.read(path, as_version=4)
    course = notebook.metadata.get("course", {})
    recorded = course.get("code")
    if not recorded:
        return "its stored outputs record no code digest (executed before `make stale` existed)"
    now = module_digests(notebook, Path(path).stem)
    changed = sorted(name for name in now if recorded.get(name) != now[name])
    removed = sorted(set(recorded) - set(now))
    if not changed and not removed:
        return None
    reasons = [f"changed: {', '.join(changed)}"] if changed else []
    reasons += [f"no longer imported: {', '.join(removed)}"] if removed else []
    executed = course.get("executed", "an unknown time")
    return f"executed {executed}, since then {'; '.join(reasons)}"
