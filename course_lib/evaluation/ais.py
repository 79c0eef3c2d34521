"""Annealed importance sampling (AIS) for the partition function of an RBM.

Following Salakhutdinov & Murray (2008): start from a "base-rate" model A whose weights are zero
(its log Z is known in closed form and it can be sampled exactly), and move through a sequence of
distributions that blend A into the RBM B,

    log p*_beta(v) = (1 - beta) a_A.v + beta a_B.v + sum_j softplus(beta (b_j + v.w_j)),

for 0 = beta_0 < beta_1 < ... < beta_K = 1. Each chain carries an importance weight that
accumulates log p*_{beta_k}(v) - log p*_{beta_{k-1}}(v), and takes one Gibbs step that leaves
p_{beta_k} invariant. The mean weight is an unbiased estimate of Z_B / Z_A. Because the mean of
weights is unbiased, its log underestimates log Z on average (Jensen), so AIS likelihoods tend to
be slightly optimistic; with enough temperatures the gap is small, which
``course_lib.evaluation.rbm_exact`` lets the tests and the notebook check.

Reverse annealing (RAISE, Burda, Grosse & Salakhutdinov, 2015) runs the same schedule backwards,
starting each chain at a data point. Its weight is an unbiased estimate of p_ann(v), the
probability of v under the *annealing model* (draw from A, then apply the K forward Gibbs steps),
so its log is a stochastic lower bound on log p_ann(v). p_ann tends to the RBM as K grows. Forward
AIS leans high on log p(v), RAISE leans low, and where they meet both can be believed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from course_lib.models.rbm import BernoulliRBM, bernoulli, check_binary
from course_lib.training.steps import progress


@dataclass(frozen=True)
class AISResult:
    """An AIS estimate of log Z with its spread."""

    log_z: float
    log_z_low: float  # log(mean weight - 3 standard errors) + log Z_A, -inf when that is negative
    log_z_high: float  # log(mean weight + 3 standard errors) + log Z_A
    log_weights: torch.Tensor  # (n_chains,) float64, on the CPU
    n_temperatures: int
    seconds: float

    def describe(self) -> str:
        return (
            f"log Z = {self.log_z:.2f} (3 s.e. interval {self.log_z_low:.2f} .. "
            f"{self.log_z_high:.2f}; {len(self.log_weights)} chains, {self.n_temperatures:,} "
            f"temperatures, {self.seconds:.1f} s)"
        )


def temperature_schedule(n: int) -> torch.Tensor:
    """n + 1 inverse temperatures from 0 to 1, spaced like Salakhutdinov & Murray's 14,500:
    about 3% of the steps on [0, 0.5], 28% on [0.5, 0.9] and 69% on [0.9, 1] (where p changes
    fastest)."""
    if n < 3:
        raise ValueError(f"AIS needs at least 3 temperatures, got {n}.")
    first = max(1, round(n * 500 / 14_500))
    second = max(1, round(n * 4_000 / 14_500))
    third = n - first - second
    return torch.cat(
        [
            torch.linspace(0.0, 0.5, first + 1, dtype=torch.float64)[:-1],
            torch.linspace(0.5, 0.9, second + 1, dtype=torch.float64)[:-1],
            torch.linspace(0.9, 1.0, third + 1, dtype=torch.float64),
        ]
    )


def base_rate_bias(data: torch.Tensor, smoothing: float = 0.05) -> torch.Tensor:
    """Visible biases of the base-rate model: log-odds of each unit's mean in ``data``, smoothed
    towards 1/2 so that a pixel never on in the data keeps a finite bias."""
    check_binary(data)
    mean = (data.sum(0) + smoothing) / (len(data) + 2 * smoothing)
    return torch.log(mean) - torch.log1p(-mean)


def _log_unnormalised(
    hidden_input: torch.Tensor,
    v: torch.Tensor,
    beta: float,
    base_bias: torch.Tensor,
    rbm_bias: torch.Tensor,
) -> torch.Tensor:
    """log p*_beta(v) for each chain, given hidden_input = b + v W: (C,) float64."""
    visible_term = v @ ((1.0 - beta) * base_bias + beta * rbm_bias)
    return (visible_term + F.softplus(beta * hidden_input).sum(1)).double()


def _gibbs_step(
    rbm: BernoulliRBM,
    v: torch.Tensor,
    hidden_input: torch.Tensor,
    beta: float,
    base_bias: torch.Tensor,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """One Gibbs step v -> h -> v' that leaves p_beta invariant, given hidden_input = b + v W.

    Summed over h it is reversible with respect to p_beta(v), so the same step serves as its own
    reverse in RAISE.
    """
    h = bernoulli(torch.sigmoid(beta * hidden_input), generator=generator)
    visible_input = (1.0 - beta) * base_bias + beta * torch.addmm(
        rbm.visible_bias, h, rbm.weight.t()
    )
    return bernoulli(torch.sigmoid(visible_input), generator=generator)


def _anneal_step(
    rbm: BernoulliRBM,
    v: torch.Tensor,
    hidden_input: torch.Tensor,
    beta_from: float,
    beta_to: float,
    base_bias: torch.Tensor,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One annealing step of every chain from p_{beta_from} to p_{beta_to}, given hidden_input =
    b + v W: (log p*_{beta_to}(v) - log p*_{beta_from}(v) at the state weighed, new v, its hidden
    input).

    The Gibbs step is always the one at the larger beta of the pair. Forward AIS (beta_to larger)
    weighs v and then moves it under p_{beta_to}; reverse annealing (beta_to smaller) moves v under
    p_{beta_from} first and weighs the state it reaches, which is the forward step run backwards.
    """

    def log_ratio(state: torch.Tensor, state_hidden_input: torch.Tensor) -> torch.Tensor:
        return _log_unnormalised(
            state_hidden_input, state, beta_to, base_bias, rbm.visible_bias
        ) - _log_unnormalised(state_hidden_input, state, beta_from, base_bias, rbm.visible_bias)

    if beta_to > beta_from:
        increment = log_ratio(v, hidden_input)
        v = _gibbs_step(rbm, v, hidden_input, beta_to, base_bias, generator)
        return increment, v, torch.addmm(rbm.hidden_bias, v, rbm.weight)
    v = _gibbs_step(rbm, v, hidden_input, beta_from, base_bias, generator)
    hidden_input = torch.addmm(rbm.hidden_bias, v, rbm.weight)
    return log_ratio(v, hidden_input), v, hidden_input


def _base_model(rbm: BernoulliRBM, base_bias: torch.Tensor | None) -> tuple[torch.Tensor, float]:
    """The base-rate model's visible biases (zeros when ``base_bias`` is None) and its log Z_A."""
    base = (
        torch.zeros_like(rbm.visible_bias) if base_bias is None else base_bias.to(rbm.visible_bias)
    )
    if base.shape != rbm.visible_bias.shape:
        raise ValueError(f"base_bias must have shape ({rbm.n_visible},), got {tuple(base.shape)}.")
    # The base model has independent visible units, and each of B's hidden units adds a factor
    # of 2 at beta = 0 (softplus(0) = log 2).
    log_z_base = F.softplus(base).double().sum().item() + rbm.n_hidden * math.log(2.0)
    return base, log_z_base


@torch.no_grad()
def ais_log_partition(
    rbm: BernoulliRBM,
    n_temperatures: int = 14_500,
    n_chains: int = 100,
    base_bias: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> AISResult:
    """Estimate log Z of ``rbm`` with ``n_chains`` independent AIS runs of ``n_temperatures`` steps.

    ``base_bias`` are the base-rate model's visible biases (``base_rate_bias(train_data)`` is a good
    choice: the closer A is to B, the fewer temperatures are needed); zeros by default.
    """
    if n_chains < 2:
        raise ValueError(f"AIS needs at least 2 chains to report a spread, got {n_chains}.")
    began = time.perf_counter()
    base, log_z_base = _base_model(rbm, base_bias)
    betas = temperature_schedule(n_temperatures).tolist()

    v = bernoulli(torch.sigmoid(base).expand(n_chains, -1), generator=generator)
    hidden_input = torch.addmm(rbm.hidden_bias, v, rbm.weight)  # b + v W: (C, H)
    log_w = torch.zeros(n_chains, dtype=torch.float64, device=v.device)
    for previous, beta in progress(
        zip(betas[:-1], betas[1:]), total=len(betas) - 1, desc="AIS", leave=False
    ):
        increment, v, hidden_input = _anneal_step(
            rbm, v, hidden_input, previous, beta, base, generator
        )
        log_w += increment

    log_w = log_w.cpu()
    log_mean, log_low, log_high = _log_mean_and_interval(log_w)
    return AISResult(
        log_z=log_z_base + log_mean,
        log_z_low=log_z_base + log_low,
        log_z_high=log_z_base + log_high,
        log_weights=log_w,
        n_temperatures=n_temperatures,
        seconds=time.perf_counter() - began,
    )


def _log_mean_and_interval(log_w: torch.Tensor) -> tuple[float, float, float]:
    """log of the mean weight and of mean -/+ 3 standard errors, computed stably in log space."""
    shift = log_w.max()
    w = torch.exp(log_w - shift)
    mean = w.mean()
    spread = 3.0 * w.std() / math.sqrt(len(w))
    low = math.log(mean - spread) if mean > spread else -math.inf
    return (
        (shift + math.log(mean)).item(),
        (shift + low).item(),
        (shift + math.log(mean + spread)).item(),
    )


@torch.no_grad()
def ais_log_likelihood(rbm: BernoulliRBM, v: torch.Tensor, result: AISResult) -> torch.Tensor:
    """log p(v) = -F(v) - log Z for each row, with log Z from an AIS ``result``: (B,) float64."""
    check_binary(v)
    return -rbm.free_energy(v).double() - result.log_z


def pool_runs(results: list[AISResult]) -> AISResult:
    """One estimate from independent AIS runs with the same schedule: all their chains together."""
    if len({result.n_temperatures for result in results}) != 1:
        raise ValueError("pool_runs needs runs with the same number of temperatures.")
    log_z_base = results[0].log_z - _log_mean_and_interval(results[0].log_weights)[0]
    log_w = torch.cat([result.log_weights for result in results])
    log_mean, log_low, log_high = _log_mean_and_interval(log_w)
    return AISResult(
        log_z=log_z_base + log_mean,
        log_z_low=log_z_base + log_low,
        log_z_high=log_z_base + log_high,
        log_weights=log_w,
        n_temperatures=results[0].n_temperatures,
        seconds=sum(result.seconds for result in results),
    )


@dataclass(frozen=True)
class RAISEResult:
    """Reverse-annealing estimates of log p_ann(v), one per data point."""

    log_likelihood: torch.Tensor  # (B,) float64 on the CPU: log of the mean weight of each row
    n_temperatures: int
    chains_per_row: int
    seconds: float


@torch.no_grad()
def raise_log_likelihood(
    rbm: BernoulliRBM,
    v: torch.Tensor,
    n_temperatures: int = 14_500,
    chains_per_row: int = 1,
    base_bias: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> RAISEResult:
    """RAISE: anneal from each row of binary ``v`` (B, n_visible) back to the base-rate model.

    With v_K = v and v_{k-1} drawn by the Gibbs step at beta_k from v_k, the weight
    p_A(v_0) * prod_k p*_{beta_k}(v_k) / p*_{beta_k}(v_{k-1}) has expectation p_ann(v), so the
    mean of log p_ann estimates over rows is, in expectation, below their true mean. Same
    schedule and base model as ``ais_log_partition``.
    """
    check_binary(v)
    if chains_per_row < 1:
        raise ValueError(f"chains_per_row must be at least 1, got {chains_per_row}.")
    began = time.perf_counter()
    base, log_z_base = _base_model(rbm, base_bias)
    betas = temperature_schedule(n_temperatures).tolist()

    v = v.to(rbm.visible_bias).repeat_interleave(chains_per_row, dim=0)
    hidden_input = torch.addmm(rbm.hidden_bias, v, rbm.weight)
    # log p*_{beta_K}(v_K)
    log_w = _log_unnormalised(hidden_input, v, 1.0, base, rbm.visible_bias)
    for beta, lower in progress(
        zip(betas[:0:-1], betas[-2::-1]), total=len(betas) - 1, desc="RAISE", leave=False
    ):
        # v_{k-1} from v_k, weighed by p*_{beta_{k-1}}(v_{k-1}) / p*_{beta_k}(v_{k-1})
        increment, v, hidden_input = _anneal_step(
            rbm, v, hidden_input, beta, lower, base, generator
        )
        log_w += increment
    # The last term added is log p*_0(v_0); p_A(v_0) divides it by Z_A.
    log_w = log_w.cpu() - log_z_base
    per_row = torch.logsumexp(log_w.view(-1, chains_per_row), dim=1) - math.log(chains_per_row)
    return RAISEResult(
        log_likelihood=per_row,
        n_temperatures=n_temperatures,
        chains_per_row=chains_per_row,
        seconds=time.perf_counter() - began,
    )
