"""The digit classifier and the cached frozen digit judge.

Judges are trained with the quick recipe (a second or two) in temporary cache folders. No test
touches the network. The data is the shared data folder's real MNIST where it stands beside the
repository (or ``$COURSE_DATA_DIR`` names it); without it, an empty folder, where the loader falls
back to scikit-learn's digits. The default recipe's accuracy is reported by the judge itself.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
from shared_data import SHARED_DATA
from torch import nn

from course_lib.data import download
from course_lib.data.mnist import MNISTData, load_mnist
from course_lib.evaluation import digit_judge
from course_lib.evaluation.digit_judge import (
    QUICK_DIGIT_RECIPE,
    DigitJudge,
    digit_judge_file,
    load_digit_judge,
)
from course_lib.models.digit_classifier import DigitClassifier, digit_loss
from course_lib.runtime.cache import CorruptCacheError
from course_lib.runtime.config import CACHE_DIR_ENV, DATA_DIR_ENV

pytestmark = pytest.mark.filterwarnings("ignore::course_lib.data.mnist.DataFallbackWarning")

QUICK = QUICK_DIGIT_RECIPE


def _no_network(*args, **kwargs):
    raise URLError("the tests do not use the network")


@pytest.fixture(scope="module", autouse=True)
def offline_data(tmp_path_factory):
    """No downloads, no progress bars; the shared data folder where it stands, else an empty one."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(download, "urlopen", _no_network)
        patch.setenv("COURSE_PROGRESS", "off")
        has_mnist = (SHARED_DATA / "MNIST" / "raw").is_dir()
        patch.setenv(
            DATA_DIR_ENV, str(SHARED_DATA if has_mnist else tmp_path_factory.mktemp("no-data"))
        )
        yield


@pytest.fixture(scope="module")
def judge(offline_data, tmp_path_factory) -> DigitJudge:
    """One quick judge shared by the tests that only use it (its own cache folder)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_DIR_ENV, str(tmp_path_factory.mktemp("shared-judge")))
        return load_digit_judge(recipe=QUICK)


@pytest.fixture
def cache(monkeypatch, tmp_path) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_DIR_ENV, str(folder))
    return folder


def quick_data() -> MNISTData:
    """The data the quick judge was trained and scored on."""
    return load_mnist(QUICK.train_size, QUICK.test_size, seed=QUICK.data_seed)


def forbid_training(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the digit judge was trained again instead of loaded from the cache")

    monkeypatch.setattr(digit_judge, "fit", fail)


# ---------------------------------------------------------------------------------------------
# The classifier


def test_classifier_gives_ten_logits_and_a_feature_vector():
    model = DigitClassifier()
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert model.features(torch.rand(2, 1, 28, 28)).shape == (2, model.feature_size) == (2, 128)
    assert DigitClassifier(widths=(4, 8), feature_size=16).features(
        torch.rand(2, 1, 28, 28)
    ).shape == (2, 16)


@pytest.mark.parametrize("shape", [(2, 784), (2, 28, 28), (2, 3, 28, 28), (2, 1, 32, 32)])
def test_classifier_rejects_a_wrong_shape_naming_both_shapes_and_the_fix(shape):
    with pytest.raises(
        ValueError, match=rf"\(B, 1, 28, 28\), got \({', '.join(map(str, shape))}\)\. Fix"
    ):
        DigitClassifier()(torch.rand(shape))


def test_classifier_needs_two_widths():
    with pytest.raises(ValueError, match="two conv blocks"):
        DigitClassifier(widths=(8, 16, 32))


def test_digit_loss_is_the_cross_entropy_of_the_logits():
    torch.manual_seed(0)
    model = DigitClassifier()
    images, labels = torch.rand(4, 1, 28, 28), torch.randint(10, (4,))
    torch.testing.assert_close(
        digit_loss(model, images, labels), nn.functional.cross_entropy(model(images), labels)
    )


# ---------------------------------------------------------------------------------------------
# Using the judge


def test_judge_is_frozen_and_describes_itself(judge):
    data = quick_data()
    assert not judge.model.training
    assert not any(p.requires_grad for p in judge.model.parameters())
    assert isinstance(judge.accuracy, float) and 0.0 <= judge.accuracy <= 1.0
    for part in (
        data.short_source,
        f"$COURSE_CACHE_DIR/{judge.path.name}",
        f"accuracy {judge.accuracy:.3f}",
        QUICK.version,
        QUICK.digest(),
    ):
        assert part in judge.source
    with pytest.raises(dataclasses.FrozenInstanceError):
        judge.accuracy = 1.0


def test_quick_judge_beats_chance_by_a_wide_margin_on_held_out_digits(judge):
    data = quick_data()
    assert judge.accuracy > 0.7  # chance: 0.1
    assert judge.accuracy_on(data.test_images, data.test_labels) == pytest.approx(judge.accuracy)


def test_judge_gives_labels_probabilities_and_features_on_the_cpu(judge):
    images = quick_data().test_images[:7]
    labels = judge.predict(images, batch_size=3)
    assert labels.dtype == torch.int64 and labels.shape == (7,) and labels.device.type == "cpu"
    assert 0 <= labels.min() and labels.max() <= 9
    probabilities = judge.probabilities(images, batch_size=3)
    assert probabilities.shape == (7, 10)
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(7))
    assert torch.equal(probabilities.argmax(dim=1), labels)
    assert judge.features(images, batch_size=3).shape == (7, judge.model.feature_size)


def test_batching_does_not_change_the_answers(judge):
    images = quick_data().test_images[:10]
    torch.testing.assert_close(
        judge.probabilities(images, batch_size=3), judge.probabilities(images)
    )
    torch.testing.assert_close(judge.features(images, batch_size=4), judge.features(images))


def test_flattened_digits_are_judged_like_images(judge):
    images = quick_data().test_images[:6]
    flat = images.reshape(6, 784)  # as RBM and DBN samples come
    assert torch.equal(judge.predict(flat), judge.predict(images))
    torch.testing.assert_close(judge.features(flat), judge.features(images))


@pytest.mark.parametrize("shape", [(5, 28, 28), (5, 3, 28, 28), (5, 1, 32, 32), (5, 783), (784,)])
def test_judge_rejects_a_wrong_shape_naming_it_and_the_fix(judge, shape):
    got = ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "")
    with pytest.raises(
        ValueError, match=rf"\(N, 1, 28, 28\) or flattened \(N, 784\), got \({got}\)\. Fix"
    ):
        judge.predict(torch.rand(shape))


@pytest.mark.parametrize(
    "images",
    [
        torch.randint(256, (3, 1, 28, 28), dtype=torch.uint8),
        torch.rand(3, 784) * 2 - 1,  # tanh outputs
        torch.full((3, 784), float("nan")),
    ],
    ids=["uint8", "tanh-range", "nan"],
)
def test_judge_rejects_pixels_outside_the_unit_interval(judge, images):
    with pytest.raises(
        ValueError, match=r"float pixels in \[0, 1\].*Fix: divide uint8 pixels by 255"
    ):
        judge.features(images)


def test_accuracy_on_needs_one_label_per_image(judge):
    with pytest.raises(ValueError, match="one label per image"):
        judge.accuracy_on(torch.rand(4, 784), torch.zeros(3, dtype=torch.int64))


# ---------------------------------------------------------------------------------------------
# The cache


def test_judge_trains_once_then_loads_the_same_weights_from_the_cache(cache, monkeypatch, capsys):
    trained = load_digit_judge(recipe=QUICK)
    assert "Training the digit judge" in capsys.readouterr().out
    assert list(cache.iterdir()) == [trained.path]

    forbid_training(monkeypatch)
    loaded = load_digit_judge(recipe=QUICK)
    assert "Training" not in capsys.readouterr().out
    assert (
        loaded.path == trained.path
        and loaded.accuracy == trained.accuracy
        and loaded.source == trained.source
    )
    for a, b in zip(trained.model.state_dict().values(), loaded.model.state_dict().values()):
        assert torch.equal(a, b)
    assert list(cache.iterdir()) == [trained.path]


def test_cached_judge_is_a_weights_only_checkpoint_named_by_data_and_recipe(cache):
    judge = load_digit_judge(recipe=QUICK)
    data = quick_data()
    state = torch.load(judge.path, weights_only=True)
    assert state["recipe"] == QUICK.as_dict() and state["data_kind"] == data.kind
    assert state["accuracy"] == judge.accuracy and state["data"] == data.short_source
    assert judge.path.name == f"digit_judge_{data.kind}_{QUICK.digest()}.pt"


def test_another_recipe_gets_another_file(cache):
    first = load_digit_judge(recipe=QUICK)
    other = load_digit_judge(recipe=dataclasses.replace(QUICK, train_seed=1))
    assert other.path != first.path
    assert sorted(cache.iterdir()) == sorted([first.path, other.path])


def test_a_file_of_another_recipe_is_kept_and_the_judge_trained_into_a_new_name(cache, capsys):
    other_path = load_digit_judge(recipe=dataclasses.replace(QUICK, widths=(4, 8))).path
    occupied = next(digit_judge_file(QUICK, quick_data().kind).candidate_paths())
    os.replace(other_path, occupied)  # as if another recipe had written under this name
    before = occupied.read_bytes()

    judge = load_digit_judge(recipe=QUICK)
    assert judge.path == occupied.with_name(occupied.stem + "_2.pt")
    assert occupied.read_bytes() == before
    assert "digit judge of another recipe" in capsys.readouterr().out


def test_a_judge_trained_on_other_data_is_not_reused(cache, monkeypatch, tmp_path):
    if quick_data().kind == "digits-fallback":
        pytest.skip(
            f"needs real MNIST (the shared data folder, or ${DATA_DIR_ENV}), "
            "to compare with the fallback"
        )
    first = load_digit_judge(recipe=QUICK)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))  # empty: the scikit-learn digits fallback
    fallback = load_digit_judge(recipe=QUICK)
    assert "digits-fallback" in fallback.path.name and fallback.path != first.path
    assert fallback.source.startswith("digit classifier trained on NOT MNIST")


def test_a_corrupt_cache_file_raises_an_error_naming_it_and_the_fix(cache):
    path = next(digit_judge_file(QUICK, quick_data().kind).candidate_paths())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CorruptCacheError) as info:
        load_digit_judge(recipe=QUICK)
    assert str(path) in str(info.value) and "delete" in str(info.value)
    assert path.read_bytes() == b"not a checkpoint at all"  # left untouched


def test_retrain_replaces_the_cached_file(cache, monkeypatch):
    first = load_digit_judge(recipe=QUICK)
    calls = []
    original_fit = digit_judge.fit
    monkeypatch.setattr(
        digit_judge, "fit", lambda *a, **k: calls.append(1) or original_fit(*a, **k)
    )
    again = load_digit_judge(recipe=QUICK, retrain=True)
    assert calls and again.path == first.path and list(cache.iterdir()) == [first.path]


def test_training_the_judge_leaves_the_random_state_and_thread_count_alone(cache):
    torch.manual_seed(123)
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        load_digit_judge(recipe=QUICK)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(torch.get_rng_state(), state)


def test_same_recipe_trains_the_same_judge(cache, tmp_path, monkeypatch):
    first = load_digit_judge(recipe=QUICK)
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "elsewhere"))
    second = load_digit_judge(recipe=QUICK)
    assert second.path != first.path
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        torch.testing.assert_close(a, b)
