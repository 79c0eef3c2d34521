"""Exact RBM quantities by enumerating every state of the smaller layer (tiny models only).

Z = sum_{v,h} exp(-E(v, h)) has 2^(n_visible + n_hidden) terms, but one layer can be summed out
in closed form (the free energy), so only 2^min(n_visible, n_hidden) states need listing. That
makes exact answers possible for up to about 24 units on the smaller side: enough to check
contrastive divergence and annealed importance sampling against the truth. Sums run in float64.
"""

from __future__ import annotations

import copy
from typing import Iterator

import torch

from course_lib.models.rbm import BernoulliRBM
from course_lib.training.rbm import RBMGradient

MAX_ENUMERATED_UNITS = 24  # 2^24 = 16.7 million states: seconds, not hours


def all_states(
    n: int, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Every binary vector of length ``n`` as rows: (2^n, n), row r holding the bits of r."""
    return next(_state_chunks(n, torch.device(device), chunk=2**n)).to(dtype)


def _check_size(n: int) -> None:
    if not 1 <= n <= MAX_ENUMERATED_UNITS:
        raise ValueError(
            f"Exact enumeration lists 2^{n} states; it is limited to 1..{MAX_ENUMERATED_UNITS} "
            "units on the smaller layer. For bigger models estimate log Z with "
            "course_lib.evaluation.ais."
        )


def _double(rbm: BernoulliRBM) -> BernoulliRBM:
    return copy.deepcopy(rbm).double()


def _state_chunks(n: int, device: torch.device, chunk: int = 2**15) -> Iterator[torch.Tensor]:
    """All 2^n states in float64, ``chunk`` rows at a time: 2^24 states never sit in memory."""
    _check_size(n)
    bits = 2 ** torch.arange(n - 1, -1, -1, device=device)  # most significant bit first
    for start in range(0, 2**n, chunk):
        codes = torch.arange(start, min(start + chunk, 2**n), device=device)
        yield (codes.unsqueeze(1) & bits).ne(0).double()  # (c, 1) & (n,) -> (c, n)


def _enumerate(model: BernoulliRBM) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Every state of the smaller layer, a chunk at a time, as (v, h, log weight).

    Listing visible states: v is the states, h = p(h = 1 | v), log weight = -F(v). Listing hidden
    states: h is the states, v = p(v = 1 | h), log weight = -F(h). Either way the log weights sum
    (in exp) to Z, and the weighted sums of v, h and v h^T are the model's expectations times Z.
    """
    device = model.weight.device
    if model.n_visible <= model.n_hidden:
        for v in _state_chunks(model.n_visible, device):
            yield v, model.hidden_probs(v), -model.free_energy(v)
    else:
        for h in _state_chunks(model.n_hidden, device):
            yield model.visible_probs(h), h, -model.hidden_free_energy(h)


@torch.no_grad()
def log_partition(rbm: BernoulliRBM) -> torch.Tensor:
    """log Z exactly (a float64 scalar), summing the free energy over the smaller layer's states."""
    parts = [torch.logsumexp(log_weight, 0) for _, _, log_weight in _enumerate(_double(rbm))]
    return torch.logsumexp(torch.stack(parts), 0)


@torch.no_grad()
def log_likelihood(
    rbm: BernoulliRBM, v: torch.Tensor, log_z: torch.Tensor | None = None
) -> torch.Tensor:
    """log p(v) = -F(v) - log Z for each row of ``v``: (B,) float64. Pass ``log_z`` to reuse one."""
    model = _double(rbm)
    if log_z is None:
        log_z = log_partition(model)
    return -model.free_energy(v.double()) - log_z


@torch.no_grad()
def exact_gradient(rbm: BernoulliRBM, data: torch.Tensor) -> RBMGradient:
    """The true gradient of the mean log-likelihood of ``data``, model term by enumeration.

    <v h>_model = sum_v p(v) v p(h = 1 | v)^T, summed over every visible state (or, equivalently,
    over every hidden state when that layer is smaller). Returned in the RBM's dtype.
    """
    model = _double(rbm)
    v0 = data.double()
    positive = model.hidden_probs(v0)
    log_z = log_partition(model)
    weight = torch.zeros_like(model.weight)
    visible = torch.zeros_like(model.visible_bias)
    hidden = torch.zeros_like(model.hidden_bias)
    for v, h, log_weight in _enumerate(model):
        p = torch.exp(log_weight - log_z).unsqueeze(1)  # probability of each listed state: (S, 1)
        weight += (p * v).t() @ h
        visible += (p * v).sum(0)
        hidden += (p * h).sum(0)
    dtype = rbm.weight.dtype
    return RBMGradient(
        weight=(v0.t() @ positive / len(v0) - weight).to(dtype),
        visible_bias=(v0.mean(0) - visible).to(dtype),
        hidden_bias=(positive.mean(0) - hidden).to(dtype),
    )
