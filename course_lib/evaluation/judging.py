"""Frozen judges: classifiers trained once by a fixed, seeded recipe, cached, and frozen.

The course scores generated samples with two judges, ``digit_judge`` for digits and
``attribute_judge`` for faces. They differ in their data, their model, how they train and what
they answer. This module holds what they share:

- where a recipe's judge is cached: a file in ``cache_dir()`` whose name carries a digest of the
  recipe and which records the recipe, so a judge of another recipe or architecture is never
  mistaken for the one asked for; such a file is left alone and the judge goes to the next free
  name (``course_lib.runtime.cache``);
- loading it from there with ``weights_only=True``: no pickled code runs, a file that cannot be
  read is refused with an error that says to delete it (and is never overwritten), and weights of
  another model shape are refused by the checkpoint's signature;
- otherwise training it once, seeded and on one CPU thread, without disturbing the caller's random
  state or thread count, and saving it atomically;
- freezing it for evaluation.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from course_lib.runtime.cache import candidate_paths, first_usable_path, holds, recipe_digest
from course_lib.runtime.checkpoints import load_checkpoint, save_checkpoint
from course_lib.runtime.config import one_cpu_thread, shown_path


class TrainingRecipe:
    """Base of each judge's recipe, a frozen dataclass of everything that determines its weights."""

    def as_dict(self) -> dict[str, Any]:
        """The recipe as its cached file records it.

        Tuples become lists, as they read back from the file, so that a cached file's recipe
        compares equal to the recipe that wrote it.
        """
        fields = dataclasses.asdict(self)
        return {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in fields.items()
        }

    def digest(self) -> str:
        """12 hex digits that name the recipe in the cached file's name."""
        return recipe_digest(self.as_dict())


@dataclass(frozen=True)
class JudgeFile:
    """What identifies one recipe's judge in the cache, and how to build its untrained model."""

    name: str  # "digit judge": in messages
    stem: str  # the file name without ".pt"; it ends in the recipe's digest
    recipe: dict[str, Any]  # recorded in the file and compared on loading
    new_model: Callable[[], nn.Module]
    retrain_time: str  # "about half a minute": in the message about an unreadable file
    # Further entries the file records and must match, such as the kind of data trained on.
    provenance: dict[str, Any] = field(default_factory=dict)

    def candidate_paths(self) -> Iterator[Path]:
        """``<stem>.pt``, then ``<stem>_2.pt``, ``<stem>_3.pt``, ... in ``cache_dir()``."""
        return candidate_paths(self.stem)

    def path(self) -> Path:
        """The first candidate that is free or already holds this judge."""
        return first_usable_path(
            self.candidate_paths(), self.holds_this_judge, self.name, self.retrain_time
        )

    def holds_this_judge(self, state: dict[str, Any]) -> bool:
        """Whether a cached checkpoint was trained by this recipe, for this model, on this data."""
        return holds(state, self.recipe, self.new_model()) and all(
            state.get(key) == value for key, value in self.provenance.items()
        )


@dataclass(frozen=True)
class CachedJudge:
    """A judge's model, frozen on its device, with what its cached file records."""

    model: nn.Module
    # What the file records: the recipe, its provenance, what ``train`` returned and the
    # train_seconds (read from a cached file, the checkpoint's weights and signature too).
    record: dict[str, Any]
    path: Path


def load_or_train(
    file: JudgeFile,
    train: Callable[[nn.Module], dict[str, Any]],
    *,
    seed: int,
    device: torch.device | str,
    retrain: bool,
    training_note: str,
) -> CachedJudge:
    """The judge cached in ``file``; trained first, and cached, when there is none.

    ``train(model)`` trains a freshly seeded model in place and returns what the file should
    record about it (its accuracy, ...). ``retrain`` trains again and replaces this recipe's
    file. ``training_note`` says what the judge trains on, in the message announcing it.
    """
    path = file.path()
    if retrain or not path.exists():
        print(
            f"Training the {file.name} once ({training_note}); "
            f"it will be cached at {shown_path(path)}"
        )
        model, record = _train_and_save(file, train, seed, path)
    else:
        model = file.new_model()
        record = load_checkpoint(path, model)
    return CachedJudge(freeze(model, device), record, path)


def _train_and_save(
    file: JudgeFile, train: Callable[[nn.Module], dict[str, Any]], seed: int, path: Path
) -> tuple[nn.Module, dict[str, Any]]:
    began = time.perf_counter()
    # Seeded weights and shuffling; the caller's random state and thread count are restored.
    with torch.random.fork_rng(), one_cpu_thread():
        torch.manual_seed(seed)
        model = file.new_model()
        results = train(model)
    record = {
        "recipe": file.recipe,
        **file.provenance,
        **results,
        "train_seconds": time.perf_counter() - began,
    }
    save_checkpoint(path, model.cpu(), **record)  # written to a side file, then renamed
    return model, record


def freeze(model: nn.Module, device: torch.device | str) -> nn.Module:
    """``model`` on ``device`` in eval mode with gradients off: a judge only scores."""
    return model.to(device).eval().requires_grad_(False)
