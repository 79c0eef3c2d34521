"""Save and load training state safely: one file, written in one step, that vouches for itself.

A checkpoint is a plain dict of tensors, numbers and strings, so it loads with
``torch.load(..., weights_only=True)``: no pickled code runs when a file is opened. It carries

- a signature of the model (class name and parameter shapes), so that loading one into another
  model fails with a message instead of a wall of state-dict key errors, and a save never
  replaces a file that holds another model's checkpoint;
- the code version (``code_version``) and whatever the caller records about the run: for a
  training loop its settings and ``progress`` (epochs done of epochs asked for), for a recipe
  also the recipe, the profile and the data;
- ``content_digest``: the sha256 of everything else in it, wall-clock times left out (entries
  whose name ends in ``seconds``). Reading recomputes it, so a damaged file is caught even where
  the zip container still opens, and two runs that did the same work write the same digest.

A save writes ``<name>.partial`` beside the target, flushes it to disk and renames it over the
target: an interruption leaves the old checkpoint or the new one, never a mix, and the partial
file is deleted (or, after a hard kill, replaced by the next save). A ``.sha256`` file beside a
checkpoint (``sha256sum`` format, as published downloads come) is checked too when present.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from course_lib.runtime.checksums import ChecksumError, checksum_path, verify_checksum
from course_lib.runtime.code_version import code_version

FORMAT = "course_lib-checkpoint-v2"
# Written before checkpoints carried a content digest (judges cached by earlier versions, for
# example): read as they are, without one.
OLDER_FORMAT = "course_lib-checkpoint-v1"


class CheckpointMismatchError(ValueError):
    """The checkpoint was saved from a different model or run than the one asked for."""


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


# ---- the content digest -----------------------------------------------------------------------


def content_digest(state: Mapping[str, Any]) -> str:
    """sha256 of ``state`` without its ``content_digest`` and without wall-clock times.

    Tensors count by dtype, shape and bytes; dicts by their sorted keys; numbers and strings by
    their exact ``repr``. Entries whose name ends in ``seconds`` are left out, so two runs that
    did the same work have the same digest however long each took.
    """
    digest = hashlib.sha256()
    _feed(digest, {key: value for key, value in state.items() if key != "content_digest"})
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"tensor {tensor.dtype} {tuple(tensor.shape)}:".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, Mapping):
        digest.update(b"{")
        for key in sorted(value, key=str):
            if isinstance(key, str) and key.endswith("seconds"):
                continue  # wall-clock time differs between identical runs
            digest.update(f"{key!r}:".encode())
            _feed(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, (list, tuple)):
        digest.update(b"[")
        for item in value:
            _feed(digest, item)
        digest.update(b"]")
    elif value is None or type(value) in (bool, int, float, str) or isinstance(value, torch.dtype):
        # exact types: numpy's float64 is a float that weights_only loading refuses
        digest.update(f"{type(value).__name__} {value!r};".encode())
    else:  # torch.load(weights_only=True) could not read the file back
        raise TypeError(
            f"A checkpoint can hold tensors, numbers, strings, lists and dicts, not a "
            f"{type(value).__module__}.{type(value).__qualname__} ({value!r:.60}). Convert it "
            "first, for example with float() or str()."
        )


# ---- reading and writing ----------------------------------------------------------------------


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a course checkpoint (``weights_only=True``) and check its content digest.

    Raises ``FileNotFoundError`` without a file, ``ValueError`` for a file that is not a
    readable course checkpoint, and ``ChecksumError`` when the content does not match its digest.
    """
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
    if not isinstance(state, dict) or state.get("format") not in (FORMAT, OLDER_FORMAT):
        raise ValueError(f"{path} is not a course_lib checkpoint (no '{FORMAT}' marker).")
    if state["format"] == FORMAT and content_digest(state) != state.get("content_digest"):
        raise ChecksumError(
            f"{path} is damaged: its content does not match the digest recorded in it. "
            "Move it aside and train again (or copy it again from where it came from)."
        )
    return state


def write_atomically(state: Mapping[str, Any], path: Path) -> None:
    """``torch.save(state)`` to ``path`` through ``<name>.partial``, renamed once on disk.

    On any interruption (KeyboardInterrupt included) the partial file is deleted and ``path`` is
    untouched; a partial file left by a hard kill is simply overwritten by the next save.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(path)
    try:
        with open(partial, "wb") as file:
            torch.save(dict(state), file)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on disk before the name points at them
        os.replace(partial, path)
    except BaseException as error:
        partial.unlink(missing_ok=True)
        if isinstance(error.__context__, KeyboardInterrupt):
            # torch.save, cut by Ctrl-C, fails again closing its zip file: report the cause.
            raise error.__context__ from None
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # and so is the rename
    finally:
        os.close(folder)


def partial_path(path: str | os.PathLike) -> Path:
    """``model.pt`` -> ``model.pt.partial``, where a save writes before renaming."""
    path = Path(path)
    return path.with_name(path.name + ".partial")


def refuse_to_replace_another_model(
    path: Path, signature: dict[str, Any], other_models_too: bool = False
) -> None:
    """Raise ``FileExistsError`` if ``path`` holds anything but a checkpoint of this model (with
    ``other_models_too``: anything but a course_lib checkpoint)."""
    if not path.exists():
        return
    try:
        existing = read_checkpoint(path)
    except ValueError:
        raise FileExistsError(
            f"{path} exists and is not a course_lib checkpoint (or cannot be read); refusing to "
            "overwrite it. Choose another path or move the file."
        ) from None
    if existing["signature"] != signature and not other_models_too:
        raise FileExistsError(
            f"{path} holds a checkpoint of another model "
            f"({_describe_difference(existing['signature'], signature)}); refusing to "
            "overwrite it. Choose another path or move the file."
        )


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    replace_other_model: bool = False,
    **extra: Any,
) -> Path:
    """Write model (and optimizer) state plus ``extra`` entries atomically to ``path``.

    The file also records the code version and its content digest. Overwriting an earlier
    checkpoint of the same model is allowed (that is how a run advances), and one of another
    model when ``replace_other_model`` says so (``--overwrite``); a file that is not a course_lib
    checkpoint is never replaced.
    """
    path = Path(path)
    signature = model_signature(model)
    refuse_to_replace_another_model(path, signature, other_models_too=replace_other_model)
    state = {
        "format": FORMAT,
        "signature": signature,
        "code": code_version(),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        **extra,
    }
    state["content_digest"] = content_digest(state)
    write_atomically(state, path)
    forget_published_checksum(path)
    return path


def forget_published_checksum(path: Path) -> None:
    """Remove the ``.sha256`` beside ``path`` after its bytes changed (it would no longer match)."""
    record = checksum_path(path)
    if record.exists():
        record.unlink()
        print(f"note: removed {record}, which described the file's earlier content")


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


# ---- what a checkpoint says about its run -----------------------------------------------------


@dataclass(frozen=True)
class Checkpointing:
    """Where a training loop keeps its checkpoint, how often it saves, and what it records.

    The loop saves its whole state to ``path`` every ``every`` epochs and after the last, and
    continues from the file when it exists. ``run`` holds what the caller knows about the run
    and the loop does not (recipe, profile, data); it is recorded with the loop's own settings,
    and a resume with any of them different is refused.
    """

    path: Path
    every: int = 1
    run: Mapping[str, Any] = field(default_factory=dict)
    start_over: bool = False  # train from scratch, replacing the checkpoint there at the first save

    def __post_init__(self):
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ValueError(
                f"Checkpointing.every (epochs between saves) must be a positive int, got "
                f"{self.every!r}."
            )
        object.__setattr__(self, "path", Path(self.path))


def as_checkpointing(checkpoint: str | os.PathLike | Checkpointing | None) -> Checkpointing | None:
    """A path means: save there after every epoch, recording only the loop's own settings."""
    if checkpoint is None or isinstance(checkpoint, Checkpointing):
        return checkpoint
    return Checkpointing(Path(checkpoint))


def recorded_run(state: Mapping[str, Any]) -> Mapping[str, Any]:
    """What a checkpoint records about its run (an older file kept it at the top level)."""
    return state.get("run", state)


def is_finished(state: Mapping[str, Any]) -> bool:
    """Whether the run that wrote ``state`` did all the epochs it was asked for."""
    progress = state.get("progress")
    return progress is None or progress["epochs_done"] >= progress["epochs"]


def differences(saved: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """One line per entry of ``wanted`` that ``saved`` records differently (or not at all)."""
    lines = []
    for key, value in wanted.items():
        if key not in saved:
            lines.append(f"{key}: the file records none, this run has {value!r}")
        elif saved[key] != value:
            lines.append(f"{key}: the file has {saved[key]!r}, this run has {value!r}")
    return lines


def note_other_code(path: str | os.PathLike, state: Mapping[str, Any]) -> None:
    """Say so when ``state`` was written by other ``course_lib`` code than this (not an error:
    most edits do not change what a checkpoint means)."""
    if state.get("code", code_version()) != code_version():
        print(
            f"note: {path} was written by other course_lib code (version {state['code']}, "
            f"this is {code_version()}); if results look wrong, train again."
        )


# ---- loading a run's result, or producing it --------------------------------------------------


def load_or_train(
    path: str | os.PathLike | None,
    model: nn.Module,
    train: Callable[[Checkpointing | None], Any],
    *,
    expect: Mapping[str, Any],
    expected_sha256: str | None = None,
    train_if_unusable: bool = False,
) -> tuple[Any, str]:
    """Load ``model`` from a verified checkpoint, or train it; return (history, how).

    ``train(checkpointing)`` runs the training loop with ``checkpoint=checkpointing`` and returns
    its history. How it goes:

    - ``path`` None: ``train(None)``, how = "trained" (nothing saved).
    - no file at ``path``: ``train`` saves its state there every epoch, recording ``expect``
      (for example ``{"recipe": "autoencoder", "profile": "cpu"}``); how = "trained".
    - a finished run at ``path`` (its digest, any ``.sha256`` beside it or ``expected_sha256``,
      the model's shapes and every entry of ``expect`` checked against the run it records,
      ``"epochs"`` against the epochs it was asked for): the model is loaded and the saved
      history returned; how = "loaded". The file is not modified.
    - an unfinished run (a restarted kernel, an interrupted command): ``train`` continues it
      from the file, exactly as if it had never stopped; how = "resumed".

    A corrupt or mismatched file raises an error naming each problem, unless
    ``train_if_unusable`` asks to train instead (without saving: the file is left as it is).
    """
    if path is None:
        return train(None), "trained"
    path = Path(path)
    checkpointing = Checkpointing(path, run=dict(expect))
    if not path.exists():
        return train(checkpointing), "trained"
    try:
        if expected_sha256 is not None or checksum_path(path).exists():
            verify_checksum(path, expected_sha256)
        state = read_checkpoint(path)
        recorded = dict(recorded_run(state))
        if "progress" in state:  # the epochs asked for, comparable with expect["epochs"]
            recorded["epochs"] = state["progress"]["epochs"]
        mismatches = differences(recorded, expect)
        if mismatches:
            raise CheckpointMismatchError(
                f"{path} was saved by another run: " + "; ".join(mismatches) + "."
            )
        note_other_code(path, state)
        if not is_finished(state):
            progress = state["progress"]
            print(
                f"{path} holds an unfinished run ({progress['epochs_done']} of "
                f"{progress['epochs']} epochs); continuing it."
            )
            return train(checkpointing), "resumed"
        load_checkpoint(path, model)
    except ValueError as error:  # ChecksumError and CheckpointMismatchError are ValueErrors too
        if not train_if_unusable:
            raise type(error)(
                f"{error} To train instead, pass train_if_unusable=True "
                "(the file is left as it is)."
            ) from error
        print(f"Cannot use {path}: {error}\nTraining instead (the file is left as it is).")
        return train(None), "trained"
    return state["history"], "loaded"
