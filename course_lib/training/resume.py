"""A training loop's whole state saved at the end of an epoch, and continued from exactly.

Every loop of the course (``fit``, ``train_gan``, ``train_rbm``, the translation loops) names
what it must keep to go on: its model, optimisers, random generators and the like, in a
``LoopState``. ``start`` restores all of it, and torch's global random state, from the
checkpoint when there is one; ``end_epoch`` saves it every few epochs and after the last. A run
stopped at any point and started again with the same arguments therefore ends with the same
weights, bit for bit, as one that never stopped (tests/test_faults_resume.py checks each loop).

The checkpoint records the loop's settings (seed, batch size, a digest of the training data,
...) and whatever the caller adds (recipe, profile, data source). Continuing with any of them
different is refused with the list of differences, and so is asking for fewer epochs than the
file has done: a finished run is never relabelled.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from course_lib.runtime.checkpoints import (
    Checkpointing,
    CheckpointMismatchError,
    as_checkpointing,
    content_digest,
    differences,
    load_checkpoint,
    note_other_code,
    read_checkpoint,
    recorded_run,
    save_checkpoint,
)
from course_lib.runtime.code_version import code_version
from course_lib.runtime.distributed import Shard, gather_objects


def data_digest(*tensors: torch.Tensor) -> str:
    """16 hex digits of the sha256 of the tensors' dtypes, shapes and values."""
    return content_digest({"data": list(tensors)})[:16]


def global_random_state(device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """torch's global random state: the CPU stream, and the CUDA one of ``device``."""
    state = {"cpu": torch.get_rng_state()}
    if torch.device(device).type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_global_random_state(state: Mapping[str, torch.Tensor], device) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.device(device).type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


def _state_of(part: Any) -> Any:
    """What to save of one part: a generator's state, copies of tensors, or a state dict."""
    if isinstance(part, torch.Generator):
        return part.get_state()
    if isinstance(part, list):  # buffers updated in place (an RBM's momentum)
        return [tensor.detach().clone() for tensor in part]
    return part.state_dict()  # modules, optimisers, image pools


def _restore(part: Any, saved: Any) -> None:
    if isinstance(part, torch.Generator):
        part.set_state(saved)
    elif isinstance(part, list):
        for tensor, value in zip(part, saved, strict=True):
            tensor.copy_(value)
    else:
        part.load_state_dict(saved)


def hyperparameters(optimizer: torch.optim.Optimizer) -> list[dict[str, Any]]:
    """An optimiser's settings per parameter group (learning rate, betas, ...), parameters left
    out: restoring its state would silently bring the saved ones back."""
    return [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]


def scalar_attributes(module: nn.Module) -> dict[str, Any]:
    """A module's own number and string settings (a penalty weight, a cycle weight, ...)."""
    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_")
        and name != "training"
        and isinstance(value, (bool, int, float, str))
    }


class LoopState:
    """What one training loop saves after its epochs and restores before it goes on.

    ``checkpoint``: a path or ``Checkpointing`` (None: nothing is saved). ``model`` is the module
    the file is a checkpoint of; ``settings`` what must not change between the two halves of a
    run, to which a digest of the training ``data``, the optimisers' hyperparameters and the
    model's own number settings are added; ``parts`` the named optimisers, generators and
    buffers whose state is kept, the same in every process; ``rank_parts`` those that differ
    between processes under torchrun (their own random generators, image pools), kept per
    process like torch's global random state. ``epochs`` is the number of epochs this call is
    asked to reach. Only rank 0 writes; every process reads.

    A continued run matches an uninterrupted one bit for bit on the same kind of device (with
    the GPU speed switches off: cuDNN's benchmark mode picks algorithms by timing). Measurements
    that keep their own random state (``epoch_metrics``) are outside it.
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike | Checkpointing | None,
        model: nn.Module,
        settings: Mapping[str, Any],
        parts: Mapping[str, Any],
        *,
        data: Sequence[torch.Tensor],
        epochs: int,
        rank_parts: Mapping[str, Any] | None = None,
        device: torch.device | str = "cpu",
        shard: Shard | None = None,
    ):
        self.checkpointing = as_checkpointing(checkpoint)
        self.model, self.parts, self.epochs, self.device = model, dict(parts), epochs, device
        self.rank_parts = dict(rank_parts or {})
        self.shard = shard or Shard()
        self.code_history: list[list[Any]] = [[code_version(), 0]]
        self.run: dict[str, Any] = {}
        if self.checkpointing is not None:  # the data digest costs a pass over the data
            optimizers = {
                name: hyperparameters(part)
                for name, part in self.parts.items()
                if isinstance(part, torch.optim.Optimizer)
            }
            self.run = {
                **self.checkpointing.run,
                **settings,
                "optimizers": optimizers,
                "model_settings": scalar_attributes(model),
                "data_digest": data_digest(*data),
                "processes": self.shard.world_size,
            }

    def start(self) -> tuple[int, dict[str, Any] | None]:
        """(epochs already done, the saved checkpoint): (0, None) when there is nothing to
        continue. Restores the model, every part and the random states from the file."""
        if self.checkpointing is None or self.checkpointing.start_over:
            return 0, None
        path = self.checkpointing.path
        if not path.exists():
            return 0, None
        state = read_checkpoint(path)
        if "progress" not in state or "ranks" not in state:
            raise CheckpointMismatchError(
                f"{path} is a checkpoint of weights only, not of a run that can be continued. "
                "Use another checkpoint path to train, or load it with load_checkpoint."
            )
        mismatches = differences(recorded_run(state), self.run)
        if mismatches:
            raise CheckpointMismatchError(
                f"{path} holds a run with other settings, so it cannot be continued: "
                + "; ".join(mismatches)
                + ". Run again with the file's settings, or give another checkpoint path (or "
                "delete this one) to start over."
            )
        done = state["progress"]["epochs_done"]
        if done > self.epochs:
            raise CheckpointMismatchError(
                f"{path} has already trained {done} epochs, more than the {self.epochs} asked "
                f"for; a finished run is not relabelled. Ask for {done} epochs (or more) to use "
                "it, or give another checkpoint path."
            )
        self.note_changes(path, state, done)
        # On the device first: an optimiser's restored state follows its parameters' device.
        load_checkpoint(path, self.model.to(self.device))
        for name, part in self.parts.items():
            _restore(part, state["training"][name])
        mine = state["ranks"][self.shard.rank]
        for name, part in self.rank_parts.items():
            _restore(part, mine["parts"][name])
        restore_global_random_state(mine["rng"], self.device)
        return done, {**state, "extra": mine["extra"]}

    def note_changes(self, path: os.PathLike, state: Mapping[str, Any], done: int) -> None:
        """Say what differs without making the continued run wrong: the code, the device."""
        self.code_history = [list(entry) for entry in state["code_history"]]
        if self.code_history[-1][0] != code_version():
            note_other_code(path, {"code": self.code_history[-1][0]})
            self.code_history.append([code_version(), done])
        here = torch.device(self.device).type
        if state["device"] != here:
            print(
                f"note: continuing a run trained on {state['device']} on {here}; it will not "
                "match an uninterrupted run bit for bit."
            )

    def end_epoch(self, epochs_done: int, history: Mapping[str, Any], **extra: Any) -> None:
        """Save everything after ``epochs_done`` epochs, if a save is due. Every process must
        call it (each contributes its own random state); rank 0 writes."""
        if self.checkpointing is None:
            return
        if epochs_done % self.checkpointing.every and epochs_done != self.epochs:
            return
        mine = {
            "rng": global_random_state(self.device),
            "parts": {name: _state_of(part) for name, part in self.rank_parts.items()},
            "extra": extra,
        }
        ranks = gather_objects(mine, self.shard)
        if not self.shard.is_main:
            return
        save_checkpoint(
            self.checkpointing.path,
            self.model,
            replace_other_model=self.checkpointing.start_over,
            run=self.run,
            progress={"epochs_done": epochs_done, "epochs": self.epochs},
            history=dict(history),
            training={name: _state_of(part) for name, part in self.parts.items()},
            ranks=ranks,
            device=torch.device(self.device).type,
            code_history=self.code_history,
        )
