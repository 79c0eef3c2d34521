"""Learning an RBM by contrastive divergence (Algorithm 5.1 of the lecture notes) and persistent CD.

The log-likelihood gradient of an RBM is a difference of two expectations,

    d log p(v) / d w_ij = <v_i h_j>_data - <v_i h_j>_model,

and the model term needs samples from the model. CD-k starts a Gibbs chain at the data and stops
after k steps; persistent CD (Tieleman, 2008) keeps one set of chains running across updates, so
they can wander far from the data and find the model's spurious modes. Both statistics use
p(h = 1 | v) rather than a binary h sample: the same expectation with less noise.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from course_lib.models.rbm import BernoulliRBM, bernoulli, check_binary
from course_lib.runtime.checkpoints import Checkpointing
from course_lib.runtime.distributed import Shard, average_across
from course_lib.training.checks import check_count
from course_lib.training.resume import LoopState
from course_lib.training.steps import progress


@dataclass
class RBMGradient:
    """Ascent directions for the three parameter tensors (an update is the rate times these)."""

    weight: torch.Tensor
    visible_bias: torch.Tensor
    hidden_bias: torch.Tensor

    def as_tuple(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.weight, self.visible_bias, self.hidden_bias


@dataclass
class CDStep:
    """One contrastive-divergence estimate: the gradient and the chain where it stopped."""

    gradient: RBMGradient
    negative_visible: torch.Tensor  # v^k, (B, n_visible)
    # a binary h sample from p(h | v^k): where a persistent chain resumes
    negative_hidden: torch.Tensor


@torch.no_grad()
def cd_gradient(
    rbm: BernoulliRBM,
    v0: torch.Tensor,
    k: int = 1,
    generator: torch.Generator | None = None,
    chain_hidden: torch.Tensor | None = None,
) -> CDStep:
    """The k-step contrastive-divergence gradient for the batch ``v0`` (B, n_visible).

    Lines 4-11 of Algorithm 5.1, vectorised over the batch: sample h^0 from p(h | v^0), then k
    times sample v^t from p(v | h^{t-1}) and h^t from p(h | v^t). With ``chain_hidden``
    (persistent CD) the negative chain resumes from those hidden states instead of the data.
    """
    if k < 1:
        raise ValueError(f"k (Gibbs steps per update) must be at least 1, got {k}.")
    # Positive phase (line 6 with t = 1): p(h | v^0), (B, n_hidden), and a sample h^0.
    positive = rbm.hidden_probs(v0)
    h = bernoulli(positive, generator=generator) if chain_hidden is None else chain_hidden
    # Lines 5-8: k Gibbs steps, v^t from p(v | h^{t-1}), then h^t from p(h | v^t).
    for _ in range(k):
        _, v = rbm.sample_visible(h, generator)
        negative, h = rbm.sample_hidden(v, generator)
    # Lines 9-11: data statistics minus model statistics, v^k standing in for the model.
    n_data, n_model = len(v0), len(v)
    gradient = RBMGradient(
        weight=v0.t() @ positive / n_data - v.t() @ negative / n_model,  # <v h>_data - <v h>_model
        visible_bias=v0.mean(dim=0) - v.mean(dim=0),
        hidden_bias=positive.mean(dim=0) - negative.mean(dim=0),
    )
    return CDStep(gradient, v, h)


@torch.no_grad()
def reconstruction_error(
    rbm: BernoulliRBM, v: torch.Tensor, generator: torch.Generator | None = None
) -> float:
    """Mean squared difference between v and p(v | h), h sampled from p(h | v).

    Cheap and popular, but not the objective: a model can reconstruct well and still give its
    samples a poor likelihood. The notebook measures likelihoods (exact or AIS) as well.
    """
    _, h = rbm.sample_hidden(v, generator)
    return (v - rbm.visible_probs(h)).square().mean().item()


@torch.no_grad()
def pseudo_log_likelihood(rbm: BernoulliRBM, v: torch.Tensor, chunk: int = 16) -> torch.Tensor:
    """sum_i log p(v_i | v_{-i}) for each row of ``v``: (B,), computed exactly over all pixels.

    Flipping pixel i changes the free energy by F(v with i flipped) - F(v), and
    log p(v_i | v_{-i}) = log sigm(F(v flipped at i) - F(v)). scikit-learn's ``score_samples``
    estimates the same sum from one random pixel per row; here every pixel is flipped, so the
    number has no sampling noise and can judge any two RBMs on equal terms.
    """
    rbm.check_visible(v)
    check_binary(v)
    parts = []
    for part in v.split(chunk):
        pre = rbm.hidden_input(part)  # (c, H)
        sign = 1.0 - 2.0 * part  # +1 where the pixel is off (flipping turns it on), else -1: (c, V)
        flipped = pre.unsqueeze(1) + sign.unsqueeze(2) * rbm.weight.unsqueeze(0)  # (c, V, H)
        softplus_change = (F.softplus(flipped) - F.softplus(pre).unsqueeze(1)).sum(dim=2)  # (c, V)
        free_energy_change = -sign * rbm.visible_bias - softplus_change  # F(flipped) - F(v): (c, V)
        parts.append(F.logsigmoid(free_energy_change).sum(dim=1))
    return torch.cat(parts)


@dataclass
class RBMHistory:
    """What training measured after each epoch, and its training time (measurements excluded)."""

    metrics: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    def record(self, measurements: dict[str, float]) -> None:
        for name, value in measurements.items():
            self.metrics.setdefault(name, []).append(float(value))


def held_out_metrics(
    held_out: torch.Tensor, pseudo_rows: int = 200
) -> Callable[[BernoulliRBM], dict[str, float]]:
    """Per-epoch measurements on held-out rows: reconstruction error (all rows) and mean
    pseudo-log-likelihood (the first ``pseudo_rows``: it costs n_visible free energies a row).
    """
    check_binary(held_out, "held-out data")
    generator = torch.Generator(held_out.device).manual_seed(0)

    def measure(rbm: BernoulliRBM) -> dict[str, float]:
        return {
            "reconstruction_error": reconstruction_error(rbm, held_out, generator),
            "pseudo_log_likelihood": pseudo_log_likelihood(rbm, held_out[:pseudo_rows])
            .mean()
            .item(),
        }

    return measure


def train_rbm(
    rbm: BernoulliRBM,
    data: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    k: int = 1,
    persistent: bool = False,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    decay_to_zero: bool = False,
    seed: int = 0,
    epoch_metrics: Callable[[BernoulliRBM], dict[str, float]] | None = None,
    desc: str = "RBM",
    shard: Shard | None = None,
    checkpoint: str | os.PathLike | Checkpointing | None = None,
) -> RBMHistory:
    """Train ``rbm`` on binary ``data`` (N, n_visible) by CD-k, or by persistent CD-k.

    Plain minibatch gradient ascent (Algorithm 5.1 with the sum over the batch averaged), with
    optional momentum and L2 weight decay. ``decay_to_zero`` lowers the learning rate linearly to
    zero over the run, as Tieleman (2008) did for persistent CD, whose chains need ever smaller
    steps to stay close to the model. Persistent CD keeps ``batch_size`` chains, started at random
    training rows. ``epoch_metrics(rbm)`` is called after each epoch (see ``held_out_metrics``).
    Sampling uses one generator seeded by ``seed`` on the data's device: a run is reproducible.

    Under torchrun (``shard``): every process draws the same batches and estimates the CD
    gradient on its part; the estimates are averaged (weighted by part size) before the step,
    so all processes keep the same RBM. CD-k is not the gradient of a loss, so no
    DistributedDataParallel here: the average is one all-reduce per step. Gibbs sampling is
    seeded per process, and persistent chains are split between the processes.

    With ``checkpoint`` (a path, or a ``Checkpointing``) the whole state (parameters, momentum,
    both generators, the persistent chains) is saved after every epoch, and a checkpoint of the
    same run is continued exactly where it stopped (see ``course_lib.training.resume``).
    """
    shard = shard or Shard()
    check_count(epochs, "epochs")
    check_count(batch_size, "batch_size")
    check_count(k, "k")
    rbm.check_visible(data)
    check_binary(data, "training data")
    gibbs_generator = torch.Generator(data.device).manual_seed(seed + shard.rank)
    order_generator = torch.Generator().manual_seed(seed)
    velocity = zero_velocity(rbm)
    chain = None
    if persistent:
        chain = start_chains(rbm, data, batch_size, order_generator, gibbs_generator, shard)
    steps_per_epoch = -(-len(data) // batch_size)  # ceil(N / B) updates
    settings = {"loop": "train_rbm", "seed": seed, "batch_size": batch_size, "k": k}
    settings |= {"persistent": persistent, "learning_rate": learning_rate, "momentum": momentum}
    settings |= {"weight_decay": weight_decay, "decay_to_zero": decay_to_zero}
    if decay_to_zero:  # the learning-rate schedule depends on the number of epochs
        settings["epochs"] = epochs
    state = LoopState(
        checkpoint,
        rbm,
        settings,
        {"velocity": velocity, "order_rng": order_generator},
        rank_parts={"gibbs_rng": gibbs_generator},  # each process samples its own chains
        data=(data,),
        epochs=epochs,
        device=data.device,
        shard=shard,
    )
    done, saved = state.start()
    history = RBMHistory(**saved["history"]) if saved else RBMHistory()
    if saved and persistent:
        chain = saved["extra"]["chain"].to(data.device)
    total_steps, step_number = epochs * steps_per_epoch, done * steps_per_epoch
    for epoch in progress(range(done, epochs), shard, desc=desc, leave=False):  # 2. repeat
        began = time.perf_counter()
        for index in torch.randperm(len(data), generator=order_generator).split(batch_size):
            # 3-8. from a minibatch v^0, k Gibbs steps down to v^k, h^k
            local = shard.part(index)
            step = cd_gradient(rbm, data[local.to(data.device)], k, gibbs_generator, chain)
            chain = step.negative_hidden if persistent else None
            # 9-11. the update from <.>_data - <.>_model
            gradient = mean_over_processes(step.gradient, len(local) / len(index), shard)
            rate = step_size(learning_rate, step_number, total_steps, decay_to_zero)
            apply_gradient(rbm, gradient, rate, velocity, momentum, weight_decay)
            step_number += 1
        history.seconds += time.perf_counter() - began
        history.record(epoch_metrics(rbm) if epoch_metrics else {})  # 13. until: epochs done
        state.end_epoch(epoch + 1, asdict(history), chain=chain)
    return history


@torch.no_grad()
def start_chains(
    rbm: BernoulliRBM,
    data: torch.Tensor,
    count: int,
    order_generator: torch.Generator,
    gibbs_generator: torch.Generator,
    shard: Shard,
) -> torch.Tensor:
    """Hidden states of ``count`` persistent chains, started at random training rows.

    The rows are drawn from the order generator, the same in every process, and each process
    keeps its part of them.
    """
    rows = torch.randint(len(data), (count,), generator=order_generator)
    start = data[shard.part(rows).to(data.device)]
    return bernoulli(rbm.hidden_probs(start), generator=gibbs_generator)


def mean_over_processes(gradient: RBMGradient, share: float, shard: Shard) -> RBMGradient:
    """The batch-weighted mean of the processes' CD estimates (``gradient`` in one process).

    CD-k is not the gradient of a loss, so DistributedDataParallel cannot average it: it takes
    one all-reduce per step. ``share`` is this process's part of the minibatch.
    """
    return RBMGradient(*average_across(gradient.as_tuple(), share, shard))


def step_size(
    learning_rate: float, step_number: int, total_steps: int, decay_to_zero: bool
) -> float:
    """The learning rate of update ``step_number``: constant, or falling linearly to zero."""
    if not decay_to_zero:
        return learning_rate
    return learning_rate * (1 - step_number / total_steps)


@torch.no_grad()
def apply_gradient(
    rbm: BernoulliRBM,
    gradient: RBMGradient,
    learning_rate: float,
    velocity: list[torch.Tensor] | None = None,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
) -> None:
    """One ascent step: parameter += lr * (gradient - decay * weight), through ``velocity``.

    Without ``velocity``, the step is applied directly. With ``velocity`` (zeros shaped like
    weight, visible_bias, hidden_bias, updated in place):
    velocity = momentum * velocity + lr * (gradient - decay * weight); parameter += velocity.
    """
    for index, (parameter, direction) in enumerate(zip(_parameters(rbm), gradient.as_tuple())):
        if weight_decay and parameter is rbm.weight:
            direction = direction - weight_decay * parameter
        if velocity is None:
            parameter.add_(direction, alpha=learning_rate)
        else:
            parameter.add_(velocity[index].mul_(momentum).add_(direction, alpha=learning_rate))


def zero_velocity(rbm: BernoulliRBM) -> list[torch.Tensor]:
    """Momentum buffers for ``apply_gradient``, in the order of ``RBMGradient.as_tuple``."""
    return [torch.zeros_like(p) for p in _parameters(rbm)]


def _parameters(rbm: BernoulliRBM) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The parameters in the order of ``RBMGradient.as_tuple``."""
    return rbm.weight, rbm.visible_bias, rbm.hidden_bias
