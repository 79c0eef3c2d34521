"""The course RBM beside scikit-learn's ``BernoulliRBM``: same data, same algorithm, one yardstick.

scikit-learn trains by persistent CD with one Gibbs step, plain gradient ascent, chains as many as
the batch, weights drawn from N(0, 0.01^2) and zero biases. ``compare_with_sklearn`` trains both
with those settings (the course RBM with ``persistent=True, k=1``, no momentum, no weight decay),
times both, and scores both with the same exact pseudo-log-likelihood on held-out rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from sklearn.neural_network import BernoulliRBM as SklearnRBM
from threadpoolctl import threadpool_info

from course_lib.models.rbm import BernoulliRBM
from course_lib.training.rbm import pseudo_log_likelihood, train_rbm


def rbm_from_sklearn(model: SklearnRBM) -> BernoulliRBM:
    """A course RBM holding a fitted scikit-learn model's parameters.

    scikit-learn's ``components_`` is (hidden, visible), the transpose of the course's weight.
    """
    n_hidden, n_visible = model.components_.shape
    rbm = BernoulliRBM(n_visible, n_hidden)
    with torch.no_grad():
        rbm.weight.copy_(torch.from_numpy(model.components_.T.copy()))
        rbm.visible_bias.copy_(torch.from_numpy(model.intercept_visible_))
        rbm.hidden_bias.copy_(torch.from_numpy(model.intercept_hidden_))
    return rbm


def blas_threads() -> int:
    """Threads NumPy's BLAS (used by scikit-learn's RBM) will run with, as threadpoolctl says."""
    return max(
        (pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"), default=1
    )


@dataclass(frozen=True)
class SklearnComparison:
    n_hidden: int
    epochs: int
    batch_size: int
    learning_rate: float
    train_rows: int
    course_seconds: float
    sklearn_seconds: float
    # (held-out rows,) nats per image, the same rows for both: paired scores
    course_pseudo_per_image: torch.Tensor
    sklearn_pseudo_per_image: torch.Tensor
    torch_threads: int
    blas_threads: int

    @property
    def course_pseudo_log_likelihood(self) -> float:
        """Mean held-out pseudo-log-likelihood of the course RBM, nats per image."""
        return self.course_pseudo_per_image.mean().item()

    @property
    def sklearn_pseudo_log_likelihood(self) -> float:
        """Mean held-out pseudo-log-likelihood of scikit-learn's RBM, nats per image."""
        return self.sklearn_pseudo_per_image.mean().item()

    @property
    def speedup(self) -> float:
        """How many times faster the course RBM trained (scikit-learn's time / the course's)."""
        return self.sklearn_seconds / self.course_seconds

    def rows(self) -> list[tuple[str, str, str]]:
        """(implementation, training seconds, held-out pseudo-log-likelihood) for a table."""
        return [
            (
                "course_lib (torch)",
                f"{self.course_seconds:.2f}",
                f"{self.course_pseudo_log_likelihood:.2f}",
            ),
            (
                "scikit-learn",
                f"{self.sklearn_seconds:.2f}",
                f"{self.sklearn_pseudo_log_likelihood:.2f}",
            ),
        ]


def compare_with_sklearn(
    train: torch.Tensor,
    held_out: torch.Tensor,
    *,
    n_hidden: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int = 0,
) -> SklearnComparison:
    """Train both RBMs on binary ``train`` (N, n_visible) with identical settings, on the CPU."""
    train, held_out = train.cpu().float(), held_out.cpu().float()
    sklearn_model = SklearnRBM(
        n_components=n_hidden,
        learning_rate=learning_rate,
        batch_size=batch_size,
        n_iter=epochs,
        random_state=seed,
    )
    began = time.perf_counter()
    sklearn_model.fit(train.numpy())
    sklearn_seconds = time.perf_counter() - began

    torch.manual_seed(seed)
    course_model = BernoulliRBM(train.shape[1], n_hidden)
    began = time.perf_counter()
    train_rbm(
        course_model,
        train,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        k=1,
        persistent=True,
        seed=seed,
        desc="course RBM (PCD-1)",
    )
    course_seconds = time.perf_counter() - began

    def score(model: BernoulliRBM) -> torch.Tensor:
        return pseudo_log_likelihood(model, held_out).detach()

    return SklearnComparison(
        n_hidden=n_hidden,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        train_rows=len(train),
        course_seconds=course_seconds,
        sklearn_seconds=sklearn_seconds,
        course_pseudo_per_image=score(course_model),
        sklearn_pseudo_per_image=score(rbm_from_sklearn(sklearn_model)),
        torch_threads=torch.get_num_threads(),
        blas_threads=blas_threads(),
    )
