"""compare_with_sklearn keeps each held-out image's score: the two RBMs compare pairwise."""

import torch

from course_lib.baselines.sklearn_rbm import compare_with_sklearn
from course_lib.data.bars import bars_and_stripes


def test_per_image_scores_are_the_pseudo_log_likelihoods_of_the_held_out_rows(quiet_progress):
    data = bars_and_stripes(200, size=3, seed=0)
    held_out = bars_and_stripes(30, size=3, seed=1)
    result = compare_with_sklearn(
        data, held_out, n_hidden=5, epochs=2, batch_size=10, learning_rate=0.1
    )
    assert result.course_pseudo_per_image.shape == (30,)
    assert result.sklearn_pseudo_per_image.shape == (30,)
    assert result.course_pseudo_log_likelihood == result.course_pseudo_per_image.mean().item()
    # a pseudo-log-likelihood sums 9 log-probabilities: each image's is negative and finite
    for scores in (result.course_pseudo_per_image, result.sklearn_pseudo_per_image):
        assert torch.isfinite(scores).all() and (scores < 0).all()
