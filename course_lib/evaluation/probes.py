"""Linear and nearest-neighbour probes: how much of the label a representation keeps.

A representation learned without labels (a BiGAN encoder's codes, for example) is judged by the
simplest classifiers trained on top of it with a few labelled images: a 1-nearest-neighbour
classifier (is the label in the code's geometry?) and a logistic regression (is it linearly
readable?). Scores are per held-out image, 1.0 where the probe is right, so
``course_lib.evaluation.intervals`` can bootstrap them and pair them across representations.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

PROBES = ("1-NN", "logistic")


def probe_correct(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
) -> dict[str, torch.Tensor]:
    """Fit each probe of ``PROBES`` on (N, D) training features and their labels; return, per
    probe, 1.0 where it predicts the label of each of the (M, D) test features, else 0.0, (M,)."""
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            "training and test features must have the same dimension, got "
            f"{train_features.shape[1]} and {test_features.shape[1]}."
        )
    models = {
        "1-NN": KNeighborsClassifier(n_neighbors=1),
        "logistic": LogisticRegression(max_iter=2000),
    }
    return {
        name: torch.tensor(
            model.fit(train_features, train_labels).predict(test_features) == test_labels
        ).float()
        for name, model in models.items()
    }
