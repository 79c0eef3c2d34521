"""The probes: per-image correctness that matches scikit-learn's own scores."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from course_lib.evaluation.probes import PROBES, probe_correct


def test_probe_correct_matches_scikit_learn_scores():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 5)) * 3
    labels = rng.integers(0, 3, size=200)
    features = centres[labels] + rng.normal(size=(200, 5))
    train, test = slice(0, 120), slice(120, 200)
    correct = probe_correct(features[train], labels[train], features[test], labels[test])
    assert set(correct) == set(PROBES)
    reference = {
        "1-NN": KNeighborsClassifier(n_neighbors=1),
        "logistic": LogisticRegression(max_iter=2000),
    }
    for name, model in reference.items():
        score = model.fit(features[train], labels[train]).score(features[test], labels[test])
        assert correct[name].mean().item() == pytest.approx(score)
        assert correct[name].shape == (80,)


def test_probe_correct_rejects_mismatched_dimensions():
    with pytest.raises(ValueError, match="same dimension"):
        probe_correct(np.zeros((4, 3)), np.zeros(4), np.zeros((2, 5)), np.zeros(2))
