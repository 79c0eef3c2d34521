"""Training deep belief nets: greedy layer-wise pretraining, then wake-sleep (up-down) fine-tuning.

Greedy pretraining (lecture notes, section 3.1.4) trains one RBM on the data, then the next RBM on
the first one's hidden states, and so on; the last RBM also sees the labels. Each new layer can
only improve a variational bound on the data's log-likelihood (Hinton et al., 2006).

Wake-sleep (lecture notes, section 3.2; Hinton et al., 2006, appendix B, the "up-down" algorithm)
then unties the directed layers: in the wake phase, recognition weights drive the network up
from a real image and the generative weights learn to reconstruct each layer from the one above;
the top RBM does a step of CD with the label clamped; in the sleep phase, the top RBM's own
sample is driven down by the generative weights and the recognition weights learn to invert it.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import torch

from course_lib.models.dbn import DBN
from course_lib.models.rbm import BernoulliRBM, LabelledRBM, bernoulli, check_binary
from course_lib.training.checks import check_count
from course_lib.training.rbm import RBMHistory, apply_gradient, cd_gradient, train_rbm
from course_lib.training.steps import progress


@torch.no_grad()
def greedy_pretrain(
    data: torch.Tensor,
    labels: torch.Tensor,
    hidden_sizes: Sequence[int],
    top_hidden: int,
    n_labels: int = 10,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    k: int = 1,
    momentum: float = 0.5,
    seed: int = 0,
    first: BernoulliRBM | None = None,
    top_persistent: bool = True,
) -> list[BernoulliRBM]:
    """Train the RBMs of a DBN one after another; the last, a ``LabelledRBM``, has ``top_hidden``
    hidden units.

    ``hidden_sizes`` are the directed layers' sizes, e.g. (500, 500) for the lecture notes'
    784-500-500-2000 net. Each RBM learns from binary samples of the hidden units of the RBM below
    it (the model's units are binary, so its data should be too). ``first`` reuses an already
    trained bottom RBM. The lower RBMs learn by CD-k. The top RBM is the one the DBN samples from,
    so by default it learns by persistent CD with a learning rate decaying to zero: CD-k's short
    chains leave spurious modes that a long Gibbs chain then falls into.
    """
    check_count(epochs, "epochs")
    check_count(batch_size, "batch_size")
    check_count(k, "k")
    check_binary(data, "training data")
    generator = torch.Generator(data.device).manual_seed(seed)
    sizes = [data.shape[1], *hidden_sizes]
    rbms: list[BernoulliRBM] = []
    features = data
    for index, (n_visible, n_hidden) in enumerate(zip(sizes[:-1], sizes[1:])):
        if index == 0 and first is not None:
            rbm = first
            if (rbm.n_visible, rbm.n_hidden) != (n_visible, n_hidden):
                raise ValueError(
                    f"first is {rbm.n_visible}->{rbm.n_hidden}, but the stack's first layer is "
                    f"{n_visible}->{n_hidden}."
                )
        else:
            torch.manual_seed(seed + index)
            rbm = BernoulliRBM(n_visible, n_hidden).to(data.device)
            train_rbm(
                rbm,
                features,
                epochs=epochs,
                batch_size=batch_size,
                learning_rate=learning_rate,
                k=k,
                momentum=momentum,
                seed=seed + index,
                desc=f"RBM {index + 1} ({n_visible}-{n_hidden})",
            )
        rbms.append(rbm)
        features = bernoulli(rbm.hidden_probs(features), generator=generator)
    torch.manual_seed(seed + len(hidden_sizes))
    top = LabelledRBM(sizes[-1], n_labels, top_hidden).to(data.device)
    train_rbm(
        top,
        top.join(features, labels),
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        k=k,
        momentum=momentum,
        persistent=top_persistent,
        decay_to_zero=top_persistent,
        seed=seed + len(hidden_sizes),
        desc=f"top RBM ({sizes[-1]}+{n_labels}-{top_hidden})",
    )
    rbms.append(top)
    return rbms


def wake_sleep(
    dbn: DBN,
    data: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    top_k: int = 3,
    persistent: bool = True,
    seed: int = 0,
    epoch_metrics: Callable[[DBN], dict[str, float]] | None = None,
) -> RBMHistory:
    """Fine-tune ``dbn`` in place with the up-down algorithm, ``top_k`` Gibbs steps in the top RBM.

    With ``persistent`` the top RBM's negative chains carry over from batch to batch (as the top
    was pretrained by ``greedy_pretrain``); otherwise each batch restarts them at its own data.
    """
    check_count(epochs, "epochs")
    check_count(batch_size, "batch_size")
    check_count(top_k, "top_k")
    check_binary(data, "training data")
    if data.shape[1] != dbn.n_visible:
        raise ValueError(
            f"The DBN takes {dbn.n_visible} visible units, the data has {data.shape[1]} columns."
        )
    generator = torch.Generator(data.device).manual_seed(seed)
    order_generator = torch.Generator().manual_seed(seed)
    history = RBMHistory()
    chain = None
    for _ in progress(range(epochs), desc="wake-sleep", leave=False):
        began = time.perf_counter()
        for index in torch.randperm(len(data), generator=order_generator).split(batch_size):
            index = index.to(data.device)
            last = up_down_step(
                dbn, data[index], labels[index], learning_rate, top_k, generator, chain
            )
            if persistent:
                chain = last
        history.seconds += time.perf_counter() - began
        history.record(epoch_metrics(dbn) if epoch_metrics else {})
    return history


@torch.no_grad()
def up_down_step(
    dbn: DBN,
    v: torch.Tensor,
    labels: torch.Tensor,
    learning_rate: float,
    top_k: int,
    generator: torch.Generator | None = None,
    top_chain: torch.Tensor | None = None,
) -> torch.Tensor:
    """One wake-sleep update on a batch: wake (up, fix the down weights), top CD-k, sleep (down,
    fix the up weights). Every update is a delta rule: rate * input * (target - prediction).

    ``top_chain`` (hidden states of the top RBM) makes the top-level step persistent; the chain's
    new state is returned either way, and the sleep phase dreams from it.
    """
    n = len(v)
    sample = lambda probs: bernoulli(probs, generator=generator)  # noqa: E731
    top = dbn.top
    # Wake: bottom-up binary states from the recognition weights.
    wake = [v]
    for layer in dbn.layers:
        wake.append(sample(layer.recognise(wake[-1])))
    # Top level: CD-k (or persistent CD) with the label clamped in the positive phase only.
    step = cd_gradient(top, top.join(wake[-1], labels), top_k, generator, top_chain)
    apply_gradient(top, step.gradient, learning_rate)
    # Sleep: top-down binary states from the generative weights, starting at the top RBM's sample.
    sleep = [step.negative_visible[:, : top.n_features]]
    for layer in reversed(dbn.layers):
        sleep.insert(0, sample(layer.generate(sleep[0])))
    # Generative weights learn to predict each wake layer from the wake layer above it;
    # recognition weights learn to predict each sleep layer from the sleep layer below it.
    for index, layer in enumerate(dbn.layers):
        lower, upper = wake[index], wake[index + 1]
        error = lower - layer.generate(upper)  # (B, n_lower)
        layer.generative_weight.add_(error.t() @ upper, alpha=learning_rate / n)
        layer.generative_bias.add_(error.mean(0), alpha=learning_rate)
        lower, upper = sleep[index], sleep[index + 1]
        error = upper - layer.recognise(lower)  # (B, n_upper)
        layer.recognition_weight.add_(lower.t() @ error, alpha=learning_rate / n)
        layer.recognition_bias.add_(error.mean(0), alpha=learning_rate)
    return step.negative_hidden
