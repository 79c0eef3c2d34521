"""The training entry point and loading its checkpoints in place of training."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from course_lib import recipes
from course_lib.models.autoencoder import ConvAutoencoder
from course_lib.runtime.checkpoints import (
    CheckpointMismatchError,
    load_or_train,
    read_checkpoint,
    save_checkpoint,
)
from course_lib.runtime.checksums import ChecksumError, sha256_of, verify_checksum, write_checksum
from course_lib.runtime.config import CHECKPOINT_DIR_ENV, REPO_ROOT, settings_for
from course_lib.runtime.notebook_checkpoints import notebook_checkpoint

pytestmark = pytest.mark.usefixtures("quiet_progress")
EXPECT = {"recipe": "autoencoder", "profile": "smoke"}


def published(tmp_path, model: nn.Module, **entries) -> tuple:
    path = tmp_path / "ae.pt"
    save_checkpoint(path, model, **{**EXPECT, "history": {"train_loss": [0.5, 0.25]}, **entries})
    write_checksum(path)
    return path, path.read_bytes()


def trained_model() -> nn.Module:
    torch.manual_seed(1)
    return ConvAutoencoder(16)


class Trainer:
    """Counts calls, so a test can tell loading from training."""

    def __init__(self):
        self.calls = 0

    def __call__(self, checkpoint=None):
        self.calls += 1
        self.checkpoint = checkpoint
        return {"train_loss": [9.0]}


def test_without_a_checkpoint_the_model_is_trained(tmp_path):
    trainer = Trainer()
    history, how = load_or_train(
        tmp_path / "absent.pt", ConvAutoencoder(16), trainer, expect=EXPECT
    )
    assert (how, trainer.calls, history) == ("trained", 1, {"train_loss": [9.0]})
    assert load_or_train(None, ConvAutoencoder(16), trainer, expect=EXPECT)[1] == "trained"


def test_a_verified_checkpoint_is_loaded_instead_of_training(tmp_path):
    path, _ = published(tmp_path, trained_model())
    model, trainer = ConvAutoencoder(16), Trainer()
    history, how = load_or_train(path, model, trainer, expect=EXPECT)
    assert (how, trainer.calls, history) == ("loaded", 0, {"train_loss": [0.5, 0.25]})
    for name, value in trained_model().state_dict().items():
        assert torch.equal(model.state_dict()[name], value)


def test_a_corrupt_checkpoint_is_an_error_and_is_left_untouched(tmp_path):
    path, original = published(tmp_path, trained_model())
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))
    trainer = Trainer()
    with pytest.raises(ChecksumError, match="corrupt.*train_if_unusable=True"):
        load_or_train(path, ConvAutoencoder(16), trainer, expect=EXPECT)
    assert trainer.calls == 0
    history, how = load_or_train(
        path, ConvAutoencoder(16), trainer, expect=EXPECT, train_if_unusable=True
    )
    assert (how, trainer.calls) == ("trained", 1)
    assert path.read_bytes() == bytes(damaged)


def test_a_wrong_expected_sha256_is_refused_and_a_missing_checksum_file_is_not_needed(tmp_path):
    path, _ = published(tmp_path, trained_model())
    with pytest.raises(ChecksumError, match="expected 0000"):
        load_or_train(path, ConvAutoencoder(16), Trainer(), expect=EXPECT, expected_sha256="0" * 64)
    assert (
        load_or_train(
            path, ConvAutoencoder(16), Trainer(), expect=EXPECT, expected_sha256=sha256_of(path)
        )[1]
        == "loaded"
    )
    # Without a .sha256 beside it, the file vouches for itself: its recorded content digest.
    (tmp_path / "ae.pt.sha256").unlink()
    assert load_or_train(path, ConvAutoencoder(16), Trainer(), expect=EXPECT)[1] == "loaded"
    with pytest.raises(ChecksumError, match="cannot be verified"):
        verify_checksum(path)


def test_another_model_recipe_or_profile_is_a_mismatch(tmp_path):
    path, _ = published(tmp_path, trained_model())
    with pytest.raises(CheckpointMismatchError, match="shape"):
        load_or_train(path, ConvAutoencoder(8), Trainer(), expect=EXPECT)
    with pytest.raises(
        CheckpointMismatchError, match="profile: the file has 'smoke', this run has 'cpu'"
    ):
        load_or_train(path, ConvAutoencoder(16), Trainer(), expect={**EXPECT, "profile": "cpu"})


def test_the_entry_point_refuses_to_overwrite_and_rejects_unknown_recipes(tmp_path, capsys):
    out = tmp_path / "keep.pt"
    out.write_bytes(b"the user's file")
    assert recipes.main(["autoencoder", "--profile", "smoke", "--out", str(out)]) == 2
    assert "already exists. Pass --resume" in capsys.readouterr().err
    assert out.read_bytes() == b"the user's file"
    with pytest.raises(SystemExit):
        recipes.main(["resnet"])
    assert "invalid choice: 'resnet'" in capsys.readouterr().err


@pytest.mark.parametrize("recipe", sorted(recipes.RECIPES))
def test_each_recipe_builds_the_notebook_model_with_fixed_initial_weights(recipe):
    first, second = recipes.build_model(recipe, "smoke"), recipes.build_model(recipe, "smoke")
    assert all(
        torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values())
    )


def test_a_trained_checkpoint_loads_into_the_model_a_notebook_builds(
    tmp_path, monkeypatch, offline_data_dir
):
    # A tiny run of the real recipe (offline data), then the path a notebook takes to load it.
    monkeypatch.setenv(CHECKPOINT_DIR_ENV, str(tmp_path))
    out = notebook_checkpoint("autoencoder", "smoke")
    options = recipes.RunOptions("smoke", epochs=1, train_images=128)
    recipes.run("autoencoder", options, out)
    saved = read_checkpoint(out)
    assert saved["run"]["data"]["train_images"] == 128 and len(saved["history"]["train_loss"]) == 1
    model = recipes.build_model("autoencoder", "smoke")
    untouched = {k: v.clone() for k, v in model.state_dict().items()}
    history, how = load_or_train(
        out, model, Trainer(), expect={"recipe": "autoencoder", "profile": "smoke"}
    )
    assert how == "loaded" and history == saved["history"]
    assert any(not torch.equal(untouched[k], v) for k, v in model.state_dict().items())


def test_the_checkpoint_folder_must_exist(tmp_path, monkeypatch):
    monkeypatch.delenv(CHECKPOINT_DIR_ENV, raising=False)
    assert notebook_checkpoint("autoencoder", "cpu") is None
    monkeypatch.setenv(CHECKPOINT_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="not a directory"):
        notebook_checkpoint("autoencoder", "cpu")


def _printed(result) -> list[str]:
    """Every printed line, with durations and the kernel's temporary file names (in warnings)
    blanked."""
    return [
        re.sub(r"\d+(\.\d+)? s\b|ipykernel_\d+/\d+", "", line)
        for cell in result.notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream"
        for line in output["text"].splitlines()
    ]


def test_notebook_01_loads_an_entry_point_checkpoint_and_prints_the_same_results(
    tmp_path, monkeypatch, offline_data_dir
):
    # The recipe must be notebook 01's own training: every printed number (held-out errors, PCA
    # comparison, ...) is the same whether the notebook trains the model or loads the checkpoint.
    from course_lib.authoring.execution import execute_notebook
    from course_lib.evaluation.digit_judge import DIGIT_RECIPES, load_digit_judge

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    recipes.run("autoencoder", recipes.RunOptions("smoke"), tmp_path / "autoencoder-smoke.pt")
    # The notebook's digit judge, cached first: both runs then load it and print the same lines.
    load_digit_judge(recipe=DIGIT_RECIPES[settings_for("01_autoencoder", "smoke").judge_recipe])
    trained = _printed(execute_notebook(REPO_ROOT / "notebooks" / "01_autoencoder.ipynb", "smoke"))
    monkeypatch.setenv(CHECKPOINT_DIR_ENV, str(tmp_path))
    loaded = _printed(execute_notebook(REPO_ROOT / "notebooks" / "01_autoencoder.ipynb", "smoke"))
    differing = [(a, b) for a, b in zip(trained, loaded) if a != b]
    assert len(trained) == len(loaded) and len(differing) == 1, differing
    assert "epoch 1/1" in differing[0][0] and "loaded from" in differing[0][1]


@pytest.mark.parametrize("recipe", sorted(recipes.RECIPES))
def test_every_recipe_trains_one_epoch_to_a_checkpoint_that_loads(
    recipe, tmp_path, monkeypatch, offline_data_dir
):
    monkeypatch.setenv(
        "COURSE_CACHE_DIR", str(tmp_path / "cache")
    )  # the WGAN-GP monitor's digit judge
    out = tmp_path / f"{recipe}.pt"
    recipes.run(recipe, recipes.RunOptions("smoke", epochs=1), out)
    saved = read_checkpoint(out)
    assert saved["run"]["recipe"] == recipe and saved["history"]
    assert saved["progress"] == {"epochs_done": 1, "epochs": 1}
    model = recipes.build_model(recipe, "smoke")
    untouched = {k: v.clone() for k, v in model.state_dict().items()}
    history, how = load_or_train(
        out, model, Trainer(), expect={"recipe": recipe, "profile": "smoke"}
    )
    assert how == "loaded"
    assert any(
        not torch.equal(untouched[k], v) for k, v in model.state_dict().items()
    )  # it did train
