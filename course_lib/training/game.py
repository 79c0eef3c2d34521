"""What every adversarial training loop shares, so that each loop shows only its algorithm.

A loop (``train_gan``, ``train_pix2pix``, ``train_cyclegan``, ``train_stargan``) says which
minibatches each player sees and in which order the players step. The rest lives here:

- ``Game`` holds the objective on its device (behind DistributedDataParallel under torchrun):
  ``loss`` computes a player's loss under the run's autocast, ``update`` takes that player's
  NaN-guarded optimiser step, ``record`` adds the round's losses (averaged over the processes)
  to the history, and ``rounds`` drives the loop: it times every round, keeps the snapshots
  and closes each epoch (means, per-epoch measurements, the progress bar's postfix).
- ``AdversarialHistory`` is what every adversarial loop returns.
- ``Snapshots`` keeps the images of fixed codes while a GAN trains.

A *round* is one generator update together with the discriminator updates that go with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.runtime.distributed import MethodCalls, Shard, mean_across, wrap
from course_lib.runtime.speed import Speed
from course_lib.training.resume import LoopState
from course_lib.training.steps import checked_loss, evaluating, measure, update

EpochMetrics = Callable[[nn.Module], dict[str, float]]


@dataclass
class AdversarialHistory:
    """What an adversarial loop recorded, one entry per round (generator step) unless said.

    ``d_loss`` is the discriminator's loss (the mean over the round's discriminator steps; empty
    when no discriminator is trained), ``g_loss`` the loss the generator minimised, and
    ``terms`` the family's other per-round values by name (CycleGAN's ``cycle_a``, pix2pix's
    ``l1``, StarGAN's ``wasserstein``, ...). ``epoch_d_loss`` and ``epoch_g_loss`` are their
    per-epoch means (``epoch_means`` gives them for any per-round list); ``snapshots`` holds
    (rounds done, images on the CPU) pairs; ``metrics`` the per-epoch measurements; ``seconds``
    the training time, measurements and snapshots excluded. Under torchrun every recorded loss
    is the mean over the processes.
    """

    steps_per_epoch: int
    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    terms: dict[str, list[float]] = field(default_factory=dict)
    epoch_d_loss: list[float] = field(default_factory=list)
    epoch_g_loss: list[float] = field(default_factory=list)
    snapshots: list[tuple[int, torch.Tensor]] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    @classmethod
    def from_saved(cls, saved: dict[str, Any]) -> AdversarialHistory:
        """The history a checkpoint saved (``recipes`` stores it as a dict, snapshots left out).

        Checkpoints written before the loops shared this type kept each family's per-round
        values as fields of their own (CycleGAN's ``cycle_a``, StarGAN's ``wasserstein``, ...):
        those lists become ``terms``, so an older checkpoint still loads with all it recorded.
        """
        names = {f.name for f in fields(cls)}
        known = {key: value for key, value in saved.items() if key in names}
        older_terms = {key: value for key, value in saved.items() if key not in names}
        for key, value in older_terms.items():
            if not isinstance(value, list):
                raise ValueError(
                    f"The saved history has an entry {key!r} ({type(value).__name__}) that is "
                    "neither a field of AdversarialHistory nor a per-round list. Retrain the "
                    "checkpoint: python -m course_lib.recipes RECIPE --profile PROFILE --overwrite."
                )
        terms = {**older_terms, **known.pop("terms", {})}
        return cls(**known, terms=terms)

    def saved(self, snapshots: bool = True) -> dict[str, Any]:
        """The history as plain lists, numbers and tensors, loadable with weights_only=True
        (``from_saved`` rebuilds it); ``snapshots=False`` leaves the images out."""
        kept = {key: value for key, value in asdict(self).items() if key != "snapshots"}
        return {**kept, "snapshots": list(self.snapshots)} if snapshots else kept

    def per_round(self, name: str) -> list[float]:
        """The per-round list ``name``: ``"d_loss"``, ``"g_loss"`` or one of ``terms``."""
        if name in ("d_loss", "g_loss"):
            return getattr(self, name)
        if name not in self.terms:
            raise KeyError(
                f"No per-round values named {name!r}; this history has d_loss, g_loss and "
                f"{sorted(self.terms)}."
            )
        return self.terms[name]

    def epoch_means(self, name: str) -> list[float]:
        """Per-epoch means of the per-round list ``name`` (for example ``"cycle_a"``)."""
        values, steps = self.per_round(name), self.steps_per_epoch
        return [
            sum(values[i : i + steps]) / steps for i in range(0, len(values) - steps + 1, steps)
        ]

    def record(self, values: dict[str, float]) -> None:
        """Append one round's values: ``d_loss`` and ``g_loss`` to their lists, others to
        ``terms``."""
        for name, value in values.items():
            if name in ("d_loss", "g_loss"):
                getattr(self, name).append(value)
            else:
                self.terms.setdefault(name, []).append(value)

    def close_epoch(self) -> None:
        """Append the epoch's means of ``d_loss`` (when a discriminator trained) and ``g_loss``."""
        steps = self.steps_per_epoch
        if self.d_loss:
            self.epoch_d_loss.append(sum(self.d_loss[-steps:]) / steps)
        self.epoch_g_loss.append(sum(self.g_loss[-steps:]) / steps)

    def record_metrics(self, measurements: dict[str, float]) -> None:
        """Append one epoch's measurements to ``metrics``, a list per name."""
        for name, value in measurements.items():
            self.metrics.setdefault(name, []).append(value)


@dataclass
class Snapshots:
    """Images of the fixed codes ``z``: before training, every ``every`` rounds and after the
    ``last`` one."""

    objective: nn.Module
    z: torch.Tensor
    every: int
    last: int

    def due(self, done: int) -> bool:
        """Whether a snapshot is kept after ``done`` rounds."""
        return done % self.every == 0 or done == self.last

    def take(self) -> torch.Tensor:
        """The objective's samples of ``z`` on the CPU, drawn in eval mode without gradients."""
        with evaluating(self.objective):
            return self.objective.sample(self.z).cpu()


class Game:
    """An adversarial objective being trained: on ``device`` in train mode, its speed switches
    applied, and its loss methods behind one DistributedDataParallel wrapper under torchrun (the
    player left out of a step is found and skipped). Losses go into ``history``."""

    def __init__(
        self,
        objective: nn.Module,
        history: AdversarialHistory,
        device: torch.device | str,
        shard: Shard,
        speed: Speed = Speed(),
    ):
        self.objective = speed.prepare(objective.to(device).train())
        self.calls = wrap(MethodCalls(objective), shard, device, find_unused=True)
        self.history, self.device, self.shard, self.speed = history, device, shard, speed
        self.epoch = self.step = 0  # where rounds() is, for the NaN guard's message

    def loss(self, method: str, *inputs) -> torch.Tensor | dict[str, torch.Tensor]:
        """``objective.method(*inputs)`` (a loss, or a dict of loss terms), under autocast."""
        with self.speed.autocast(self.device):
            return self.calls(method, *inputs)

    def update(self, player: str, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> float:
        """``player``'s optimiser step on ``loss``, refused before it is applied if the loss is
        NaN or infinite; returns the loss as a float."""
        value = checked_loss(loss, player, self.epoch, self.step)
        update(optimizer, loss)
        return value

    def record(self, d_loss: float | None, g_loss: float, **terms: float) -> None:
        """Append the round's losses to the history, each averaged over the processes
        (``d_loss`` None: no discriminator was trained)."""
        named = {"d_loss": d_loss, "g_loss": g_loss, **terms}
        named = {name: value for name, value in named.items() if value is not None}
        self.history.record(dict(zip(named, mean_across(list(named.values()), self.shard))))

    def rounds(
        self,
        bar: tqdm,
        epoch_metrics: EpochMetrics | None = None,
        snapshots: Snapshots | None = None,
        state: LoopState | None = None,
    ) -> Iterator[int]:
        """The rounds of ``bar`` (a progress bar over range(first, epochs x steps_per_epoch)),
        one at a time for the loop's body; between them the clock, the snapshots, and the end of
        every epoch: its means, ``epoch_metrics(objective)`` (rank 0 only, in eval mode without
        gradients), the bar's postfix and the checkpoint (``state``)."""
        history = self.history
        if snapshots is not None and not history.snapshots:  # a resumed run has its first one
            history.snapshots.append((0, snapshots.take()))
        for index in bar:
            self.epoch, self.step = divmod(index, history.steps_per_epoch)
            began = time.perf_counter()
            yield index
            history.seconds += time.perf_counter() - began
            done = index + 1
            if snapshots is not None and snapshots.due(done):
                history.snapshots.append((done, snapshots.take()))
            if done % history.steps_per_epoch == 0:
                self.close_epoch(bar, epoch_metrics)
                if state is not None:
                    state.end_epoch(done // history.steps_per_epoch, history.saved())

    def close_epoch(self, bar: tqdm, epoch_metrics: EpochMetrics | None) -> None:
        """The epoch's loss means and measurements into the history, its means onto the bar."""
        history = self.history
        history.close_epoch()
        if epoch_metrics is not None and self.shard.is_main:
            history.record_metrics(measure(self.objective, epoch_metrics))
        means = {"d_loss": history.epoch_d_loss, "g_loss": history.epoch_g_loss}
        bar.set_postfix({name: f"{values[-1]:.3f}" for name, values in means.items() if values})


def start_or_resume(state: LoopState, steps_per_epoch: int) -> tuple[AdversarialHistory, int]:
    """The history so far and the first round to play: from ``state``'s checkpoint when it has
    one (everything restored as it was after the saved epoch), else a new run's."""
    done, saved = state.start()
    if saved is None:
        return AdversarialHistory(steps_per_epoch), 0
    return AdversarialHistory.from_saved(saved["history"]), done * steps_per_epoch


def generator_steps_per_epoch(n: int, batch_size: int, d_steps: int) -> int:
    """(n // batch_size) // d_steps: each generator step follows d_steps discriminator
    minibatches.

    Raises a ValueError naming the fix when d_steps < 1 or the data cannot fill one step.
    """
    if d_steps < 1:
        raise ValueError(
            f"d_steps (discriminator steps per generator step) must be at least 1, got {d_steps}."
        )
    steps = (n // batch_size) // d_steps
    if steps == 0:
        needed = "one minibatch" if d_steps == 1 else f"d_steps = {d_steps} minibatches"
        fix = "lower batch_size" if d_steps == 1 else "lower batch_size or d_steps"
        raise ValueError(
            f"{n} training examples do not fill {needed} of {batch_size} for even one generator "
            f"step; {fix}."
        )
    return steps
