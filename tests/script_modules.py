"""Import a module of scripts/ (a folder of scripts, not a package) from its file, once."""

from __future__ import annotations

import functools
import importlib.util
import sys
from types import ModuleType

from course_lib.runtime.config import REPO_ROOT


@functools.cache
def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here while the file runs
    spec.loader.exec_module(module)
    return module
