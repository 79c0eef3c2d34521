"""What the two frozen judges share: the cache-or-train-and-freeze mechanism of ``judging``.

A stand-in judge (one linear layer, "trained" by a seeded random step) makes these tests fast and
independent of any data set; ``test_digit_judge.py`` and ``test_classifier.py`` test the real
judges through the same mechanism.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from course_lib.evaluation.attribute_judge import RECIPES
from course_lib.evaluation.digit_judge import DIGIT_RECIPES
from course_lib.evaluation.judging import JudgeFile, load_or_train
from course_lib.runtime.cache import CorruptCacheError
from course_lib.runtime.config import CACHE_DIR_ENV

RECIPE = {"features": 3, "version": "stand-in-1"}


@pytest.fixture
def cache(monkeypatch, tmp_path) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_DIR_ENV, str(folder))
    return folder


def stand_in_file(features: int = 3, data_kind: str = "full") -> JudgeFile:
    return JudgeFile(
        name="stand-in judge",
        stem="stand_in_judge_0123456789ab",
        recipe={**RECIPE, "features": features},
        new_model=lambda: nn.Linear(features, 2),
        retrain_time="a moment",
        provenance={"data_kind": data_kind},
    )


class StandInTraining:
    """Moves the weights by a random step (the mechanism seeds it) and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.threads_seen: list[int] = []

    def __call__(self, model: nn.Module) -> dict[str, float]:
        self.calls += 1
        self.threads_seen.append(torch.get_num_threads())
        with torch.no_grad():
            model.weight.add_(torch.randn_like(model.weight))
        return {"accuracy": 0.75}


def load(file: JudgeFile, train: StandInTraining, retrain: bool = False):
    return load_or_train(
        file, train, seed=3, device="cpu", retrain=retrain, training_note="no data"
    )


def test_a_judge_is_trained_once_then_loaded_with_the_same_weights(cache, capsys):
    train = StandInTraining()
    trained = load(stand_in_file(), train)
    assert "Training the stand-in judge once (no data); it will be cached at" in (
        capsys.readouterr().out
    )
    loaded = load(stand_in_file(), train)
    assert train.calls == 1 and "Training" not in capsys.readouterr().out
    assert loaded.path == trained.path and list(cache.iterdir()) == [trained.path]
    for a, b in zip(trained.model.state_dict().values(), loaded.model.state_dict().values()):
        assert torch.equal(a, b)
    for key in ("recipe", "data_kind", "accuracy", "train_seconds"):
        assert loaded.record[key] == trained.record[key]


@pytest.mark.parametrize("retrain", [False, True])
def test_a_judge_is_frozen_whether_trained_or_loaded(cache, retrain):
    load(stand_in_file(), StandInTraining())
    judge = load(stand_in_file(), StandInTraining(), retrain=retrain)
    assert not judge.model.training
    assert not any(p.requires_grad for p in judge.model.parameters())


def test_the_cached_file_records_recipe_provenance_results_and_time_weights_only(cache):
    judge = load(stand_in_file(), StandInTraining())
    state = torch.load(judge.path, weights_only=True)
    assert list(state)[-5:] == [
        "recipe",
        "data_kind",
        "accuracy",
        "train_seconds",
        "content_digest",
    ]
    assert state["recipe"] == RECIPE and state["data_kind"] == "full"
    assert state["accuracy"] == 0.75 and state["train_seconds"] >= 0
    assert judge.path == cache / "stand_in_judge_0123456789ab.pt"


@pytest.mark.parametrize("retrain", [False, True])
def test_an_unreadable_cached_file_is_refused_naming_it_and_the_fix_and_never_overwritten(
    cache, retrain
):
    path = next(stand_in_file().candidate_paths())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"half a download")
    train = StandInTraining()
    with pytest.raises(CorruptCacheError) as info:
        load(stand_in_file(), train, retrain=retrain)
    message = str(info.value)
    assert str(path) in message and f"delete {path}" in message and "a moment" in message
    assert train.calls == 0 and path.read_bytes() == b"half a download"


@pytest.mark.parametrize(
    "other",
    [
        {"features": 4},  # another architecture (and recipe)
        {"data_kind": "digits-fallback"},  # the same model trained on other data
    ],
    ids=["another-model", "other-data"],
)
def test_a_file_of_another_judge_is_kept_and_this_one_trained_into_the_next_name(
    cache, capsys, other
):
    occupied = load(stand_in_file(**other), StandInTraining()).path
    before = occupied.read_bytes()
    train = StandInTraining()
    judge = load(stand_in_file(), train)
    assert train.calls == 1 and judge.path == cache / "stand_in_judge_0123456789ab_2.pt"
    assert occupied.read_bytes() == before
    assert "holds a stand-in judge of another recipe" in capsys.readouterr().out
    assert load(stand_in_file(), train).path == judge.path and train.calls == 1


def test_training_is_seeded_and_restores_the_callers_random_state_and_threads(
    cache, monkeypatch, tmp_path
):
    torch.manual_seed(123)
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    torch.set_num_threads(2)
    train = StandInTraining()
    try:
        first = load(stand_in_file(), train)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(torch.get_rng_state(), state) and train.threads_seen == [1]

    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "elsewhere"))
    torch.manual_seed(456)  # the caller's state does not matter: the mechanism seeds training
    second = load(stand_in_file(), train)
    assert second.path != first.path
    assert torch.equal(first.model.weight, second.model.weight)


def test_the_published_recipes_keep_the_digests_that_name_their_cached_files():
    # A changed digest would orphan every cached judge and train it again.
    assert {name: recipe.digest() for name, recipe in DIGIT_RECIPES.items()} == {
        "default": "95a458911841",
        "quick": "80b19f231806",
    }
    assert {name: recipe.digest() for name, recipe in RECIPES.items()} == {
        "default": "1b43b6a54402",
        "quick": "37825d0a5248",
    }
    recorded = DIGIT_RECIPES["quick"].as_dict()
    assert recorded["widths"] == [32, 64]  # a list, as it reads back from the cached file
