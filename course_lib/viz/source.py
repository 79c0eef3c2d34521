"""Show package code inside a notebook, so notebooks display the tested code instead of a copy."""

from __future__ import annotations

import inspect
from pathlib import Path

from IPython.display import Code

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # course_lib/viz/source.py -> the repository


def show_source(obj: object) -> Code:
    """Syntax-highlighted source of a course_lib function, class or method, with file and line."""
    # A decorated function (torch.no_grad, functools.wraps) shows its own code and file, not the
    # decorator's wrapper in torch or functools.
    obj = inspect.unwrap(obj)
    try:
        lines, first_line = inspect.getsourcelines(obj)
        path = Path(inspect.getsourcefile(obj)).resolve()
    except (TypeError, OSError) as error:
        raise TypeError(f"Cannot show the source of {obj!r}: {error}") from None
    try:
        where = path.relative_to(PACKAGE_ROOT)
    except ValueError:
        where = path
    header = f"# {where.as_posix()}, line {first_line}\n"
    return Code(header + "".join(lines), language="python")
