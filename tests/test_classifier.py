"""The attribute classifier, the cached frozen judge, and where the cache lives.

Judge tests train with a tiny recipe (a few hundred faces, one epoch per stage: a second or two)
in a temporary cache folder; the real recipe's accuracy is reported by the judge itself.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from course_lib.data.faces import ATTRIBUTES, make_faces
from course_lib.evaluation import attribute_judge
from course_lib.evaluation.attribute_judge import (
    JudgeRecipe,
    attribute_judge_file,
    load_attribute_judge,
)
from course_lib.models.attribute_classifier import (
    AttributeClassifier,
    attribute_accuracy,
    attribute_loss,
)
from course_lib.runtime import config
from course_lib.runtime.cache import CorruptCacheError
from course_lib.runtime.config import (
    CACHE_DIR_ENV,
    DATA_DIR_ENV,
    cache_dir,
    is_writable_dir,
    shown_path,
)

pytestmark = pytest.mark.usefixtures("quiet_progress")

TINY = JudgeRecipe(
    train_size=300, test_size=100, widths=(8, 8, 16, 16), epochs=1, fine_tune_epochs=1
)


# ---------------------------------------------------------------------------------------------
# The classifier


@pytest.mark.parametrize("size", [32, 64])
def test_classifier_gives_logits_for_every_attribute(size):
    model = AttributeClassifier(size)
    logits = model(torch.rand(3, 3, size, size))
    assert list(logits) == list(ATTRIBUTES)
    for name, values in ATTRIBUTES.items():
        assert logits[name].shape == (3, len(values))
    assert model.features(torch.rand(2, 3, size, size)).shape == (2, model.feature_size)


def test_classifier_downsamples_to_a_four_by_four_map():
    model = AttributeClassifier(64)
    strided = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert len(strided) == 4  # 64 -> 32 -> 16 -> 8 -> 4
    assert len([m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]) == 5


def test_classifier_accepts_its_own_attribute_set():
    model = AttributeClassifier(32, attributes={"digit": tuple("0123456789")})
    assert model(torch.rand(2, 3, 32, 32))["digit"].shape == (2, 10)


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (2, 1, 64, 64), (3, 64, 64)])
def test_classifier_rejects_a_wrong_input_shape(shape):
    with pytest.raises(ValueError, match=r"\(B, 3, 64, 64\)"):
        AttributeClassifier(64)(torch.rand(shape))


@pytest.mark.parametrize("size", [48, 4, 100])
def test_classifier_rejects_sizes_that_are_not_powers_of_two(size):
    with pytest.raises(ValueError, match="power of two"):
        AttributeClassifier(size)


def test_predict_gives_int64_labels_in_range():
    model = AttributeClassifier(32).eval()
    labels = model.predict(torch.rand(5, 3, 32, 32))
    for name, values in ATTRIBUTES.items():
        assert labels[name].dtype == torch.int64 and labels[name].shape == (5,)
        assert 0 <= labels[name].min() and labels[name].max() < len(values)


def test_attribute_loss_is_the_sum_of_the_cross_entropies():
    torch.manual_seed(0)
    model = AttributeClassifier(32).eval()
    images = torch.rand(4, 3, 32, 32)
    labels = [torch.randint(len(values), (4,)) for values in ATTRIBUTES.values()]
    logits = model(images)
    expected = sum(
        nn.functional.cross_entropy(logits[name], y) for name, y in zip(ATTRIBUTES, labels)
    )
    torch.testing.assert_close(attribute_loss(model, images, *labels), expected)


def test_attribute_accuracy_is_one_for_own_predictions_and_zero_for_shifted_labels():
    model = AttributeClassifier(32).eval()
    images = torch.rand(7, 3, 32, 32)
    own = model.predict(images)
    shifted = {name: (own[name] + 1) % len(ATTRIBUTES[name]) for name in own}
    assert attribute_accuracy(model, images, own, batch_size=3) == {
        name: 1.0 for name in ATTRIBUTES
    }
    assert attribute_accuracy(model, images, shifted, batch_size=3) == {
        name: 0.0 for name in ATTRIBUTES
    }
    assert not model.training


# ---------------------------------------------------------------------------------------------
# Where the cache lives


@pytest.fixture
def read_only_dir(tmp_path):
    folder = tmp_path / "shared-data"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def test_cache_dir_prefers_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "mine"))
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert cache_dir() == (tmp_path / "mine").resolve()
    assert (tmp_path / "mine").is_dir()  # created on use


def test_cache_dir_is_inside_a_writable_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_DIR_ENV, raising=False)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert cache_dir() == tmp_path.resolve() / "cache"
    assert (tmp_path / "cache").is_dir()


def test_cache_dir_falls_back_to_the_repository_when_the_data_dir_is_read_only(
    monkeypatch, tmp_path, read_only_dir
):
    monkeypatch.delenv(CACHE_DIR_ENV, raising=False)
    monkeypatch.setenv(DATA_DIR_ENV, str(read_only_dir))
    monkeypatch.setattr(config, "REPO_ROOT", tmp_path / "repo")
    assert cache_dir() == tmp_path / "repo" / ".cache"
    assert not (read_only_dir / "cache").exists()


def test_is_writable_dir_honours_mode_bits_even_for_root(tmp_path, read_only_dir):
    assert is_writable_dir(tmp_path)
    assert is_writable_dir(tmp_path / "not" / "yet" / "made")  # judged by its nearest parent
    assert not is_writable_dir(read_only_dir)
    assert not is_writable_dir(read_only_dir / "child")


# ---------------------------------------------------------------------------------------------
# The judge


@pytest.fixture
def cache(monkeypatch, tmp_path) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_DIR_ENV, str(folder))
    return folder


def forbid_training(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the judge was trained again instead of loaded from the cache")

    monkeypatch.setattr(attribute_judge, "fit", fail)


def test_judge_trains_once_then_loads_the_same_weights_from_the_cache(cache, monkeypatch, capsys):
    trained = load_attribute_judge(64, recipe=TINY)
    assert "Training the attribute judge" in capsys.readouterr().out
    files = list(cache.iterdir())
    assert files == [trained.path]

    forbid_training(monkeypatch)
    loaded = load_attribute_judge(64, recipe=TINY)
    assert loaded.path == trained.path and loaded.accuracy == trained.accuracy
    faces = make_faces(20, size=64, seed=3).images
    first, second = trained.predict(faces), loaded.predict(faces)
    assert all(torch.equal(first[name], second[name]) for name in ATTRIBUTES)
    # Another image size reuses the same file: faces are judged after area downsampling.
    small = load_attribute_judge(32, recipe=TINY)
    assert small.path == trained.path and list(cache.iterdir()) == files


def test_judge_is_frozen_and_describes_itself(cache):
    judge = load_attribute_judge(64, recipe=TINY)
    assert not judge.model.training
    assert not any(p.requires_grad for p in judge.model.parameters())
    assert set(judge.accuracy) == set(ATTRIBUTES)
    assert all(0.0 <= value <= 1.0 for value in judge.accuracy.values())
    assert shown_path(judge.path) in judge.source and "300 procedural faces" in judge.source
    assert f"skin_tone {judge.accuracy['skin_tone']:.3f}" in judge.source
    with pytest.raises(dataclasses.FrozenInstanceError):
        judge.size = 32


def test_judge_predicts_int64_labels_and_checks_the_image_size(cache):
    judge = load_attribute_judge(64, recipe=TINY)
    labels = judge.predict(torch.rand(5, 3, 64, 64), batch_size=2)
    assert list(labels) == list(ATTRIBUTES)
    assert all(t.dtype == torch.int64 and t.shape == (5,) for t in labels.values())
    with pytest.raises(ValueError, match=r"\(N, 3, 64, 64\).*size="):
        judge.predict(torch.rand(5, 3, 32, 32))


def test_judge_learns_the_easy_attributes_even_with_the_tiny_recipe(cache):
    recipe = dataclasses.replace(TINY, train_size=1000, epochs=8, batch_size=32)
    accuracy = load_attribute_judge(32, recipe=recipe).accuracy
    assert accuracy["skin_tone"] > 0.8 and accuracy["hair_colour"] > 0.8  # chance: 0.25 and 0.2
    assert accuracy["glasses"] > 0.7  # chance: 0.5


def test_cached_judge_is_a_plain_weights_only_checkpoint(cache):
    judge = load_attribute_judge(64, recipe=TINY)
    state = torch.load(judge.path, weights_only=True)
    assert state["recipe"] == TINY.as_dict()
    assert state["accuracy"] == judge.accuracy
    assert judge.path.name == f"attribute_judge_{TINY.digest()}.pt"


def test_a_corrupt_cache_file_raises_an_error_naming_it_and_the_fix(cache):
    path = next(attribute_judge_file(TINY).candidate_paths())
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CorruptCacheError) as info:
        load_attribute_judge(64, recipe=TINY)
    assert str(path) in str(info.value) and "delete" in str(info.value)
    assert path.read_bytes() == b"not a checkpoint at all"  # left untouched


def test_a_file_of_another_recipe_is_kept_and_the_judge_trained_into_a_new_name(cache, capsys):
    other = dataclasses.replace(TINY, widths=(8, 8, 8, 8))
    other_path = load_attribute_judge(32, recipe=other).path
    occupied = next(attribute_judge_file(TINY).candidate_paths())
    os.replace(other_path, occupied)  # as if another recipe had written under this name
    before = occupied.read_bytes()

    judge = load_attribute_judge(32, recipe=TINY)
    assert judge.path == occupied.with_name(occupied.stem + "_2.pt")
    assert occupied.read_bytes() == before
    assert "another recipe" in capsys.readouterr().out


def test_retrain_replaces_the_cached_file(cache, monkeypatch):
    first = load_attribute_judge(32, recipe=TINY)
    calls = []
    original_fit = attribute_judge.fit
    monkeypatch.setattr(
        attribute_judge, "fit", lambda *a, **k: calls.append(1) or original_fit(*a, **k)
    )
    again = load_attribute_judge(32, recipe=TINY, retrain=True)
    assert calls and again.path == first.path and list(cache.iterdir()) == [first.path]


def test_training_the_judge_leaves_the_random_state_and_thread_count_alone(cache):
    torch.manual_seed(123)
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        load_attribute_judge(32, recipe=TINY)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(torch.get_rng_state(), state)


def test_same_recipe_trains_the_same_judge(cache, tmp_path, monkeypatch):
    first = load_attribute_judge(32, recipe=TINY)
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "elsewhere"))
    second = load_attribute_judge(32, recipe=TINY)
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("size", [16, 48, 256])
def test_judge_rejects_unsupported_sizes(cache, size):
    with pytest.raises(ValueError, match="supported sizes: 32, 64, 128"):
        load_attribute_judge(size, recipe=TINY)
