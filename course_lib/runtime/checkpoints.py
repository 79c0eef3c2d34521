"""Save and load training state safely.

Checkpoints are plain dicts of tensors, numbers and strings, so they load with
``torch.load(..., weights_only=True)``: no pickled code runs when a file is opened. Each carries a
signature of the model (class name and parameter shapes) so that loading one into another model
fails with a message instead of a wall of state-dict key errors, and a save never replaces a file
that holds another model's checkpoint.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

FORMAT = "course_lib-checkpoint-v1"


class CheckpointMismatchError(ValueError):
    """The checkpoint was saved from a different model than the one it is loaded into."""


def model_signature(model: nn.Module) -> dict[str, Any]:
    shapes = {name: list(t.shape) for name, t in model.state_dict().items()}
    return {"class": type(model).__qualname__, "shapes": shapes}


def _describe_difference(saved: dict[str, Any], current: dict[str, Any]) -> str:
    if saved["class"] != current["class"]:
        return f"it holds a {saved['class']}, not a {current['class']}"
    for name in sorted(set(saved["shapes"]) | set(current["shapes"])):
        a, b = saved["shapes"].get(name), current["shapes"].get(name)
        if a != b:
            return f"parameter {name!r} has shape {a} in the file but {b} in the model"
    return "the signatures differ"


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a course checkpoint (``weights_only=True``) with clear errors for bad files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}. Train first, or check the path.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated zip, foreign pickle, ...
        raise ValueError(
            f"{path} is not a readable checkpoint ({type(error).__name__}: {error}). "
            "Move it aside and train again."
        ) from error
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a course_lib checkpoint (no '{FORMAT}' marker).")
    return state


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    **extra: Any,
) -> Path:
    """Write model (and optimizer) state plus ``extra`` entries atomically to ``path``.

    Overwriting an earlier checkpoint of the same model is allowed (that is how a run advances);
    a file holding anything else is never replaced.
    """
    path = Path(path)
    signature = model_signature(model)
    if path.exists():
        try:
            existing = read_checkpoint(path)
        except ValueError:
            raise FileExistsError(
                f"{path} exists and is not a course_lib checkpoint; refusing to overwrite it. "
                "Choose another path or move the file."
            ) from None
        if existing["signature"] != signature:
            raise FileExistsError(
                f"{path} holds a checkpoint of another model "
                f"({_describe_difference(existing['signature'], signature)}); refusing to "
                "overwrite it. Choose another path or move the file."
            )
    state = {
        "format": FORMAT,
        "signature": signature,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        **extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    os.replace(partial, path)  # a crash mid-save never leaves a half-written checkpoint at `path`
    return path


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
) -> dict[str, Any]:
    """Restore ``model`` (and ``optimizer``) from ``path``; return the whole checkpoint dict."""
    state = read_checkpoint(path)
    current = model_signature(model)
    if state["signature"] != current:
        raise CheckpointMismatchError(
            f"Checkpoint {path} does not fit this model: "
            f"{_describe_difference(state['signature'], current)}. Load it into the model it was "
            "saved from, or train this model from scratch."
        )
    model.load_state_dict(state["model"])
    if optimizer is not None and state["optimizer"] is not None:
        optimizer.load_state_dict(state["optimizer"])
    return state


class ChecksumError(ValueError):
    """A checkpoint's bytes do not match the sha256 it was published with."""


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_path(path: str | os.PathLike) -> Path:
    """``model.pt`` -> ``model.pt.sha256``, a line in ``sha256sum`` format."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def write_checksum(path: str | os.PathLike) -> str:
    """Write ``<path>.sha256`` (checkable with ``sha256sum -c``) and return the digest."""
    digest = sha256_of(path)
    checksum_path(path).write_text(f"{digest}  {Path(path).name}\n")
    return digest


def verify_checksum(path: str | os.PathLike, expected: str | None = None) -> str:
    """Check ``path`` against ``expected`` (default: its ``.sha256`` file); return the digest."""
    path = Path(path)
    if expected is None:
        record = checksum_path(path)
        if not record.is_file():
            raise ChecksumError(
                f"{path} has no {record.name} beside it, so it cannot be verified. Copy the "
                ".sha256 file that came with the checkpoint next to it, or pass the expected "
                "sha256."
            )
        expected = record.read_text().split()[0]
    actual = sha256_of(path)
    if actual != expected.lower():
        raise ChecksumError(
            f"{path} is corrupt or not the published file: sha256 {actual}, expected {expected}. "
            "Download or copy it again."
        )
    return actual


def load_or_train(
    path: str | os.PathLike | None,
    model: nn.Module,
    train: Callable[[], Any],
    *,
    expect: Mapping[str, Any],
    expected_sha256: str | None = None,
    train_if_unusable: bool = False,
) -> tuple[Any, str]:
    """Load ``model`` from a verified checkpoint, or train it; return (history, how).

    Without a checkpoint at ``path`` (or with ``path`` None), ``train()`` runs and its history is
    returned with how = "trained". Otherwise the file is checked against its sha256, loaded with
    ``weights_only=True``, and must hold a checkpoint of this model's shapes whose entries agree
    with ``expect`` (for example ``{"recipe": "autoencoder", "profile": "cpu"}``); then
    how = "loaded" and the history is the one saved with it. A corrupt or mismatched file raises
    an error naming the problem, unless ``train_if_unusable`` asks to train instead. The file is
    never modified.
    """
    if path is None or not Path(path).exists():
        return train(), "trained"
    try:
        verify_checksum(path, expected_sha256)
        state = read_checkpoint(path)
        for key, wanted in expect.items():
            if state.get(key) != wanted:
                raise CheckpointMismatchError(
                    f"{path} was saved with {key} {state.get(key)!r}, not {wanted!r}."
                )
        load_checkpoint(path, model)
    except ValueError as error:  # ChecksumError and CheckpointMismatchError are ValueErrors too
        if not train_if_unusable:
            raise type(error)(
                f"{error} To train instead, pass train_if_unusable=True "
                "(the file is left as it is)."
            ) from error
        print(f"Cannot use {path}: {error}\nTraining instead (the file is left as it is).")
        return train(), "trained"
    return state["history"], "loaded"
