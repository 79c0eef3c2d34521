"""Bernoulli restricted Boltzmann machines: energy, free energy, conditionals and Gibbs sampling.

Notation follows the lecture notes (see the book's Sources page): visible units v_i with biases a_i,
hidden units h_j with biases b_j, weights w_ij between v_i and h_j, and the energy

    E(v, h) = -(sum_ij v_i w_ij h_j + sum_i a_i v_i + sum_j b_j h_j).

There are no visible-visible or hidden-hidden terms (that is the restriction), so both
conditionals factorise into independent sigmoids. Every method takes a batch: v is (B, n_visible)
and h is (B, n_hidden). Sampling methods take an optional ``generator`` (on the tensors' device)
so that a chain can be replayed exactly.

Learning (contrastive divergence) lives in ``course_lib.training.rbm``; exact enumeration for tiny
models in ``course_lib.evaluation.rbm_exact``; annealed importance sampling in
``course_lib.evaluation.ais``.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn


def bernoulli(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Binary samples (same dtype as ``probs``) with P(1) = probs.

    Compares uniform numbers with the probabilities: on the CPU this is two to four times faster
    than ``torch.bernoulli``, which matters because every Gibbs step samples a whole layer.
    """
    uniform = torch.rand(probs.shape, generator=generator, dtype=probs.dtype, device=probs.device)
    return (uniform < probs).to(probs.dtype)


class NotBinaryError(ValueError):
    """A Bernoulli RBM was given data that is not made of 0s and 1s."""


def check_binary(v: torch.Tensor, what: str = "data") -> None:
    """Raise ``NotBinaryError`` unless every entry of ``v`` is exactly 0 or 1."""
    if not ((v == 0) | (v == 1)).all():
        bad = v[(v != 0) & (v != 1)][:3].tolist()
        raise NotBinaryError(
            f"A Bernoulli RBM needs binary {what} (every value 0 or 1), found values such as "
            f"{bad}. Binarize first, e.g. course_lib.data.mnist.binarized_mnist, or (x > "
            "0.5).float()."
        )


class BernoulliRBM(nn.Module):
    """An RBM with binary visible and hidden units.

    Parameters are ``weight`` (n_visible, n_hidden), ``visible_bias`` a (n_visible,) and
    ``hidden_bias`` b (n_hidden,). They are ``nn.Parameter``s so that checkpoints, ``.to(device)``
    and autograd work, but contrastive divergence updates them directly, without autograd.
    """

    def __init__(self, n_visible: int, n_hidden: int, weight_std: float = 0.01) -> None:
        super().__init__()
        if n_visible < 1 or n_hidden < 1:
            raise ValueError(
                f"An RBM needs at least one unit per layer, got {n_visible} visible, {n_hidden} "
                "hidden."
            )
        self.n_visible = n_visible
        self.n_hidden = n_hidden
        # Small random weights break the symmetry between hidden units (Algorithm 5.1, line 1).
        self.weight = nn.Parameter(weight_std * torch.randn(n_visible, n_hidden))
        self.visible_bias = nn.Parameter(torch.zeros(n_visible))
        self.hidden_bias = nn.Parameter(torch.zeros(n_hidden))

    def extra_repr(self) -> str:
        return f"n_visible={self.n_visible}, n_hidden={self.n_hidden}"

    def check_visible(self, v: torch.Tensor) -> None:
        if v.dim() != 2 or v.shape[1] != self.n_visible:
            raise ValueError(
                f"Expected visible states of shape (batch, {self.n_visible}), got "
                f"{tuple(v.shape)}. Flatten images first: images.flatten(1)."
            )

    def check_hidden(self, h: torch.Tensor) -> None:
        if h.dim() != 2 or h.shape[1] != self.n_hidden:
            raise ValueError(
                f"Expected hidden states of shape (batch, {self.n_hidden}), got {tuple(h.shape)}."
            )

    def energy(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """E(v, h) for each pair of rows: (B,)."""
        self.check_visible(v)
        self.check_hidden(h)
        interaction = ((v @ self.weight) * h).sum(dim=1)
        return -(interaction + v @ self.visible_bias + h @ self.hidden_bias)

    def hidden_input(self, v: torch.Tensor) -> torch.Tensor:
        """b_j + sum_i v_i w_ij: (B, n_hidden)."""
        self.check_visible(v)
        return torch.addmm(self.hidden_bias, v, self.weight)

    def visible_input(self, h: torch.Tensor) -> torch.Tensor:
        """a_i + sum_j w_ij h_j: (B, n_visible)."""
        self.check_hidden(h)
        return torch.addmm(self.visible_bias, h, self.weight.t())

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) = -log sum_h exp(-E(v, h)) = -a.v - sum_j softplus(b_j + v.w_j): (B,).

        The sum over 2^n_hidden states factorises, one hidden unit at a time, which is why
        p(v) = exp(-F(v)) / Z is cheap up to the constant Z.
        """
        self.check_visible(v)
        return -(v @ self.visible_bias) - F.softplus(self.hidden_input(v)).sum(dim=1)

    def hidden_free_energy(self, h: torch.Tensor) -> torch.Tensor:
        """F(h) = -log sum_v exp(-E(v, h)) = -b.h - sum_i softplus(a_i + w_i.h): (B,)."""
        self.check_hidden(h)
        return -(h @ self.hidden_bias) - F.softplus(self.visible_input(h)).sum(dim=1)

    def hidden_probs(self, v: torch.Tensor) -> torch.Tensor:
        """p(h_j = 1 | v) = sigm(b_j + sum_i v_i w_ij): (B, n_hidden)."""
        return torch.sigmoid(self.hidden_input(v))

    def visible_probs(self, h: torch.Tensor) -> torch.Tensor:
        """p(v_i = 1 | h) = sigm(a_i + sum_j w_ij h_j): (B, n_visible)."""
        return torch.sigmoid(self.visible_input(h))

    def sample_hidden(
        self, v: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(p(h = 1 | v), a binary sample of h), both (B, n_hidden)."""
        probs = self.hidden_probs(v)
        return probs, bernoulli(probs, generator=generator)

    def sample_visible(
        self, h: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(p(v = 1 | h), a binary sample of v), both (B, n_visible)."""
        probs = self.visible_probs(h)
        return probs, bernoulli(probs, generator=generator)

    @torch.no_grad()
    def gibbs_chain(
        self, v: torch.Tensor, steps: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run ``steps`` full Gibbs steps v -> h -> v from ``v``.

        Returns (p(v = 1 | h) of the last step, the last binary v sample). The probabilities
        are the usual way to show samples as images: the same state, without the last coin flips.
        """
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}.")
        for _ in range(steps):
            _, h = self.sample_hidden(v, generator)
            probs, v = self.sample_visible(h, generator)
        return probs, v

    @torch.no_grad()
    def sample(
        self,
        n: int,
        steps: int,
        generator: torch.Generator | None = None,
        start: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` samples after ``steps`` Gibbs steps; the chains start from ``start`` (n, n_visible)
        or, by default, from p(v) of the visible biases alone (a better start than pure noise)."""
        if start is None:
            base = torch.sigmoid(self.visible_bias).expand(n, -1)
            start = bernoulli(base, generator=generator)
        self.check_visible(start)
        return self.gibbs_chain(start, steps, generator)


class LabelledRBM(BernoulliRBM):
    """An RBM whose last ``n_labels`` visible units form one softmax (one-hot) label group.

    This is the top level of the digit DBN (lecture notes, figure 5.42; Hinton et al., 2006): its
    visible layer is the layer below joined with ten label units. The energy is the RBM energy;
    only the conditional of the label units changes, from independent sigmoids to a softmax,
    because exactly one label is on at a time.
    """

    def __init__(
        self, n_features: int, n_labels: int, n_hidden: int, weight_std: float = 0.01
    ) -> None:
        if n_labels < 2:
            raise ValueError(f"A label group needs at least two labels, got {n_labels}.")
        super().__init__(n_features + n_labels, n_hidden, weight_std)
        self.n_features = n_features
        self.n_labels = n_labels

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}, n_labels={self.n_labels}, n_hidden={self.n_hidden}"

    def join(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Visible states (B, n_features + n_labels) from features and integer labels (B,)."""
        if labels.dim() != 1 or len(labels) != len(features):
            raise ValueError(
                f"Expected one integer label per row, got labels of shape {tuple(labels.shape)}."
            )
        return torch.cat([features, F.one_hot(labels, self.n_labels).to(features.dtype)], dim=1)

    def visible_probs(self, h: torch.Tensor) -> torch.Tensor:
        logits = self.visible_input(h)
        features, labels = logits.split([self.n_features, self.n_labels], dim=1)
        return torch.cat([torch.sigmoid(features), torch.softmax(labels, dim=1)], dim=1)

    def sample_visible(
        self, h: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        probs = self.visible_probs(h)
        feature_probs, label_probs = probs.split([self.n_features, self.n_labels], dim=1)
        features = bernoulli(feature_probs, generator=generator)
        labels = torch.multinomial(label_probs, 1, generator=generator).squeeze(1)  # (B, 1) -> (B,)
        return probs, self.join(features, labels)

    @torch.no_grad()
    def label_free_energies(self, features: torch.Tensor) -> torch.Tensor:
        """F([features, one_hot(c)]) for every label c: (B, n_labels); the lowest is the best."""
        batch = len(features)
        labels = torch.arange(self.n_labels, device=features.device)
        every = self.join(
            features.repeat_interleave(self.n_labels, dim=0), labels.repeat(batch)
        )  # (B*L, V)
        return self.free_energy(every).view(batch, self.n_labels)

    @torch.no_grad()
    def clamped_chain(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        steps: int,
        generator: torch.Generator | None = None,
        progress: Callable[[Iterable[int]], Iterable[int]] = iter,
    ) -> torch.Tensor:
        """Gibbs sampling with the label units clamped to ``labels``; returns the last binary
        feature states (B, n_features). Used to generate a chosen digit from the top of a DBN.
        ``progress`` wraps the loop over steps, e.g. ``course_lib.training.steps.progress`` for a
        bar.
        """
        v = self.join(features, labels)
        for _ in progress(range(steps)):
            _, h = self.sample_hidden(v, generator)
            _, v = self.sample_visible(h, generator)
            v = self.join(v[:, : self.n_features], labels)
        return v[:, : self.n_features]
