"""File names and reading for helpers that are trained once and cached in ``cache_dir()``.

The frozen judges follow one convention (``course_lib.evaluation.judging`` applies it for both the
digit and the attribute judge): a cached file's name carries a digest of the recipe that trained
it, and the file records that recipe, so a helper of another recipe or architecture is never
mistaken for the one asked for. Such a file is left alone and the helper is trained into the next
free name instead.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from torch import nn

from course_lib.runtime.checkpoints import model_signature, read_checkpoint
from course_lib.runtime.config import cache_dir


class CorruptCacheError(RuntimeError):
    """A cached file exists but cannot be read as a checkpoint."""


def recipe_digest(recipe: Mapping[str, Any]) -> str:
    """The first 12 hex digits of the sha256 of ``recipe`` written as JSON with sorted keys."""
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def candidate_paths(stem: str) -> Iterator[Path]:
    """``<cache dir>/<stem>.pt``, then ``<stem>_2.pt``, ``<stem>_3.pt``, ... without end."""
    yield cache_dir() / f"{stem}.pt"
    for number in itertools.count(2):
        yield cache_dir() / f"{stem}_{number}.pt"


def read_cached(path: Path, name: str, retrain_time: str) -> dict[str, Any]:
    """The checkpoint at ``path``; an unreadable file raises an error that says to delete it."""
    try:
        return read_checkpoint(path)
    except ValueError as error:
        raise CorruptCacheError(
            f"The cached {name} {path} cannot be read ({error}). "
            f"Fix: delete {path} and run again; the {name} is then retrained ({retrain_time})."
        ) from error


def first_usable_path(
    candidates: Iterable[Path], fits: Callable[[dict[str, Any]], bool], name: str, retrain_time: str
) -> Path:
    """The first of ``candidates`` that is free or holds a checkpoint that ``fits`` accepts.

    ``candidates`` must not run out (``candidate_paths`` never does).
    """
    for path in candidates:
        if not path.exists() or fits(read_cached(path, name, retrain_time)):
            return path
        print(
            f"{path} holds a {name} of another recipe or architecture; leaving it, trying the next "
            "name."
        )


def holds(state: Mapping[str, Any], recipe: Mapping[str, Any], model: nn.Module) -> bool:
    """Whether a cached checkpoint was trained by ``recipe`` for a model shaped like ``model``."""
    return state.get("recipe") == recipe and state["signature"] == model_signature(model)
