"""Deep belief nets: a stack of RBMs turned into a generative model with a labelled top level.

A DBN (Hinton, Osindero & Teh, 2006; lecture notes, section 3.2) is an RBM at the top ("associative
memory") over a directed sigmoid belief net below it. Here the top RBM is a ``LabelledRBM`` whose
visible layer is the penultimate layer joined with one-hot label units, as in the digit DBN of
the lecture notes (figure 5.42: 784-500-500-2000 with ten labels).

Each directed layer keeps two sets of weights: recognition weights (up, used to infer the layer
above) and generative weights (down, used to generate the layer below). After greedy
pretraining both are copies of the RBM's weights; wake-sleep fine-tuning
(``course_lib.training.dbn.wake_sleep``) lets them differ.
"""

from __future__ import annotations

import copy
from typing import Callable, Iterable, Sequence

import torch
from torch import nn

from course_lib.models.rbm import BernoulliRBM, LabelledRBM, bernoulli


class StackMismatchError(ValueError):
    """Consecutive layers of a stack do not have matching sizes."""


class DirectedLayer(nn.Module):
    """One sigmoid belief-net layer between a lower layer (n_lower) and an upper layer (n_upper)."""

    def __init__(self, n_lower: int, n_upper: int) -> None:
        super().__init__()
        self.n_lower, self.n_upper = n_lower, n_upper
        self.recognition_weight = nn.Parameter(torch.zeros(n_lower, n_upper))
        self.recognition_bias = nn.Parameter(torch.zeros(n_upper))
        self.generative_weight = nn.Parameter(torch.zeros(n_lower, n_upper))
        self.generative_bias = nn.Parameter(torch.zeros(n_lower))

    @classmethod
    def from_rbm(cls, rbm: BernoulliRBM) -> "DirectedLayer":
        """Both directions start tied to the RBM's weights: up = p(h | v), down = p(v | h)."""
        layer = cls(rbm.n_visible, rbm.n_hidden).to(rbm.weight)
        with torch.no_grad():
            layer.recognition_weight.copy_(rbm.weight)
            layer.recognition_bias.copy_(rbm.hidden_bias)
            layer.generative_weight.copy_(rbm.weight)
            layer.generative_bias.copy_(rbm.visible_bias)
        return layer

    def recognise(self, lower: torch.Tensor) -> torch.Tensor:
        """q(upper = 1 | lower) with the recognition weights: (B, n_upper)."""
        return torch.sigmoid(torch.addmm(self.recognition_bias, lower, self.recognition_weight))

    def generate(self, upper: torch.Tensor) -> torch.Tensor:
        """p(lower = 1 | upper) with the generative weights: (B, n_lower)."""
        return torch.sigmoid(torch.addmm(self.generative_bias, upper, self.generative_weight.t()))


def check_stack(rbms: Sequence[BernoulliRBM]) -> None:
    """Raise ``StackMismatchError`` unless each RBM's visible layer is the hidden layer below it."""
    for index, (below, above) in enumerate(zip(rbms[:-1], rbms[1:])):
        expected = above.n_features if isinstance(above, LabelledRBM) else above.n_visible
        if below.n_hidden != expected:
            raise StackMismatchError(
                f"RBM {index} has {below.n_hidden} hidden units but RBM {index + 1} expects "
                f"{expected} inputs from it. Make RBM {index + 1}'s visible size equal RBM "
                f"{index}'s hidden size."
            )


class DBN(nn.Module):
    """Directed layers from the bottom up, then a labelled top RBM."""

    def __init__(self, layers: Sequence[DirectedLayer], top: LabelledRBM) -> None:
        super().__init__()
        sizes = [(layer.n_lower, layer.n_upper) for layer in layers]
        for index, ((_, upper), (lower, _)) in enumerate(zip(sizes[:-1], sizes[1:])):
            if upper != lower:
                raise StackMismatchError(
                    f"Directed layer {index} outputs {upper} units but layer {index + 1} takes "
                    f"{lower}."
                )
        if layers and layers[-1].n_upper != top.n_features:
            raise StackMismatchError(
                f"The top RBM takes {top.n_features} feature units but the last directed layer "
                f"gives {layers[-1].n_upper}."
            )
        self.layers = nn.ModuleList(layers)
        self.top = top

    @classmethod
    def from_stack(cls, rbms: Sequence[BernoulliRBM]) -> "DBN":
        """A DBN from greedily trained RBMs, the last of which must be a ``LabelledRBM``.

        The DBN holds copies, so fine-tuning it leaves the stack as it was (to compare against)."""
        if not rbms or not isinstance(rbms[-1], LabelledRBM):
            raise TypeError(
                "The last RBM of a DBN stack must be a LabelledRBM (the top level with the labels)."
            )
        check_stack(rbms)
        return cls([DirectedLayer.from_rbm(rbm) for rbm in rbms[:-1]], copy.deepcopy(rbms[-1]))

    @property
    def n_visible(self) -> int:
        return self.layers[0].n_lower if self.layers else self.top.n_features

    @torch.no_grad()
    def up(self, v: torch.Tensor) -> torch.Tensor:
        """Deterministic recognition pass (probabilities, no sampling) to the top RBM's features."""
        if v.dim() != 2 or v.shape[1] != self.n_visible:
            raise ValueError(
                f"Expected (batch, {self.n_visible}) visible states, got {tuple(v.shape)}. Flatten "
                "images first."
            )
        for layer in self.layers:
            v = layer.recognise(v)
        return v

    @torch.no_grad()
    def classify(self, v: torch.Tensor) -> torch.Tensor:
        """The label whose one-hot code gives the lowest top-level free energy: (B,) int64."""
        return self.top.label_free_energies(self.up(v)).argmin(dim=1)

    @torch.no_grad()
    def down(
        self, top_features: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Generative pass from binary top-level features: sample each hidden layer, and return
        p(v = 1 | h_1) at the bottom (B, n_visible), the usual way to show a DBN's samples."""
        state = top_features
        for index, layer in enumerate(reversed(self.layers)):
            probs = layer.generate(state)
            last = index == len(self.layers) - 1
            state = probs if last else bernoulli(probs, generator=generator)
        return state

    @torch.no_grad()
    def generate(
        self,
        labels: torch.Tensor,
        gibbs_steps: int,
        generator: torch.Generator | None = None,
        progress: Callable[[Iterable[int]], Iterable[int]] = iter,
    ) -> torch.Tensor:
        """Images of the requested digits: Gibbs sampling in the top RBM with the label units
        clamped, for ``gibbs_steps`` steps from random features, then one downward pass:
        (B, n_visible). ``progress`` wraps the loop over Gibbs steps (see
        ``LabelledRBM.clamped_chain``).
        """
        top = self.top
        start_probs = torch.full((len(labels), top.n_features), 0.5, device=labels.device)
        features = top.clamped_chain(
            bernoulli(start_probs, generator=generator), labels, gibbs_steps, generator, progress
        )
        return self.down(features, generator)


def sigmoid_mlp(
    sizes: Sequence[int], n_classes: int, layers: Sequence[DirectedLayer] | None = None
) -> nn.Sequential:
    """An MLP with sigmoid hidden layers of ``sizes`` (input first), a linear ``n_classes`` output.

    Given the directed layers of a pretrained stack, its hidden layers start from their
    recognition weights (the "pretraining" of the lecture notes, section 3.1.4); otherwise PyTorch's
    default initialisation. The output layer always starts at PyTorch's default.
    """
    if layers is not None and len(layers) != len(sizes) - 1:
        raise StackMismatchError(
            f"{len(sizes) - 1} hidden layers need {len(sizes) - 1} pretrained layers, got "
            f"{len(layers)}."
        )
    modules: list[nn.Module] = []
    for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(n_in, n_out)
        if layers is not None:
            layer = layers[index]
            if (layer.n_lower, layer.n_upper) != (n_in, n_out):
                raise StackMismatchError(
                    f"MLP layer {index} is {n_in}->{n_out} but pretrained layer {index} is "
                    f"{layer.n_lower}->{layer.n_upper}."
                )
            with torch.no_grad():
                linear.weight.copy_(layer.recognition_weight.t())  # nn.Linear stores (out, in)
                linear.bias.copy_(layer.recognition_bias)
        modules += [linear, nn.Sigmoid()]
    modules.append(nn.Linear(sizes[-1], n_classes))
    return nn.Sequential(*modules)
