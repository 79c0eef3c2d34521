"""Checkpoints: round trips, safe loading, refusing to overwrite other files, clear errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib.models.autoencoder import ConvAutoencoder, LinearAutoencoder
from course_lib.runtime.checkpoints import (
    FORMAT,
    CheckpointMismatchError,
    load_checkpoint,
    model_signature,
    read_checkpoint,
    save_checkpoint,
)


def trained_pair(code_size: int = 4, steps: int = 2, seed: int = 0):
    """A model and an Adam optimizer that has taken a few steps (so it has state)."""
    torch.manual_seed(seed)
    model = ConvAutoencoder(code_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(4, 1, 28, 28)
    for _ in range(steps):
        loss = nn.functional.mse_loss(model(x), x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model, optimizer


def test_round_trip_restores_weights_and_optimizer_state(tmp_path):
    model, optimizer = trained_pair()
    path = save_checkpoint(
        tmp_path / "ae.pt", model, optimizer, epoch=3, history={"train_loss": [0.5, 0.25]}
    )
    assert path == tmp_path / "ae.pt"

    torch.manual_seed(1)
    other = ConvAutoencoder(4)
    other_optimizer = torch.optim.Adam(other.parameters(), lr=1e-3)
    assert not torch.equal(other.encoder.head[1].weight, model.encoder.head[1].weight)
    state = load_checkpoint(path, other, other_optimizer)

    for (name, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        assert torch.equal(a, b), name  # includes BatchNorm running statistics
    saved, loaded = optimizer.state_dict(), other_optimizer.state_dict()
    assert saved["param_groups"] == loaded["param_groups"]
    assert saved["state"].keys() == loaded["state"].keys() and len(saved["state"]) > 0
    for key in saved["state"]:
        for field in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(saved["state"][key][field], loaded["state"][key][field])
    assert state["epoch"] == 3 and state["history"] == {"train_loss": [0.5, 0.25]}

    # The next step is the same from both: the optimizer state really was restored.
    x = torch.rand(4, 1, 28, 28)
    for m, opt in ((model, optimizer), (other, other_optimizer)):
        loss = nn.functional.mse_loss(m(x), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    for a, b in zip(model.parameters(), other.parameters()):
        assert torch.equal(a, b)


def test_checkpoint_loads_with_weights_only(tmp_path):
    model, optimizer = trained_pair()
    path = save_checkpoint(tmp_path / "ae.pt", model, optimizer, epoch=1)
    state = torch.load(path, weights_only=True)
    assert state["format"] == FORMAT
    assert state["signature"] == model_signature(model)
    assert state["signature"]["class"] == "ConvAutoencoder"


def test_save_without_optimizer(tmp_path):
    model, _ = trained_pair(steps=0)
    path = save_checkpoint(tmp_path / "m.pt", model)
    fresh = ConvAutoencoder(4)
    optimizer = torch.optim.Adam(fresh.parameters())
    assert load_checkpoint(path, fresh, optimizer)["optimizer"] is None
    assert torch.equal(fresh.decoder.head[0].weight, model.decoder.head[0].weight)


def test_loading_into_another_model_class_names_both(tmp_path):
    model, optimizer = trained_pair()
    path = save_checkpoint(tmp_path / "ae.pt", model, optimizer)
    with pytest.raises(CheckpointMismatchError) as info:
        load_checkpoint(path, LinearAutoencoder(4))
    assert "ConvAutoencoder" in str(info.value) and "LinearAutoencoder" in str(info.value)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_loading_into_another_code_size_names_the_parameter_and_shapes(tmp_path):
    model, _ = trained_pair(code_size=4)
    path = save_checkpoint(tmp_path / "ae.pt", model)
    other = ConvAutoencoder(8)
    before = other.encoder.head[3].weight.clone()
    with pytest.raises(CheckpointMismatchError) as info:
        load_checkpoint(path, other)
    message = str(info.value)
    # The first differing parameter in sorted order is decoder.head.0.weight: (128, d).
    assert "'decoder.head.0.weight'" in message
    assert "[128, 4]" in message and "[128, 8]" in message
    assert torch.equal(other.encoder.head[3].weight, before)  # nothing was half-loaded


def test_saving_over_another_models_checkpoint_refuses_and_keeps_the_file(tmp_path):
    path = tmp_path / "ae.pt"
    model, _ = trained_pair(code_size=4)
    save_checkpoint(path, model)
    original = path.read_bytes()
    with pytest.raises(FileExistsError) as info:
        save_checkpoint(path, ConvAutoencoder(8))
    assert "another model" in str(info.value)
    with pytest.raises(FileExistsError, match="LinearAutoencoder"):
        save_checkpoint(path, LinearAutoencoder(4))
    assert path.read_bytes() == original


def test_saving_over_the_same_models_checkpoint_is_allowed(tmp_path):
    path = tmp_path / "ae.pt"
    model, optimizer = trained_pair()
    save_checkpoint(path, model, optimizer, epoch=1)
    save_checkpoint(path, model, optimizer, epoch=2)
    assert read_checkpoint(path)["epoch"] == 2


@pytest.mark.parametrize(
    "content",
    [b"my notes about the course\nremember to train for 30 epochs\n", b""],
    ids=["notes", "empty"],
)
def test_saving_over_a_non_checkpoint_file_refuses_and_keeps_it(tmp_path, content):
    path = tmp_path / "notes.pt"  # a user's notes.txt renamed
    path.write_bytes(content)
    with pytest.raises(FileExistsError, match="not a course_lib checkpoint"):
        save_checkpoint(path, ConvAutoencoder(4))
    assert path.read_bytes() == content


def test_saving_over_a_foreign_torch_file_refuses_and_keeps_it(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weight": torch.ones(3)}, path)  # readable by torch.load but not ours
    original = path.read_bytes()
    with pytest.raises(FileExistsError):
        save_checkpoint(path, ConvAutoencoder(4))
    assert path.read_bytes() == original
    with pytest.raises(ValueError, match="not a course_lib checkpoint"):
        read_checkpoint(path)


def test_truncated_checkpoint_gives_value_error_naming_the_path(tmp_path):
    path = tmp_path / "ae.pt"
    model, optimizer = trained_pair()
    save_checkpoint(path, model, optimizer)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError) as info:
        load_checkpoint(path, ConvAutoencoder(4))
    assert str(path) in str(info.value)
    assert not isinstance(info.value, CheckpointMismatchError)


def test_missing_file_gives_file_not_found(tmp_path):
    path = tmp_path / "nothing_here.pt"
    with pytest.raises(FileNotFoundError, match="nothing_here.pt"):
        load_checkpoint(path, ConvAutoencoder(4))
    with pytest.raises(FileNotFoundError):
        read_checkpoint(tmp_path)  # a directory is not a checkpoint file either


def test_no_partial_file_is_left_behind(tmp_path):
    model, optimizer = trained_pair()
    save_checkpoint(tmp_path / "sub" / "ae.pt", model, optimizer)
    save_checkpoint(tmp_path / "sub" / "ae.pt", model, optimizer)  # overwrite too
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["ae.pt"]
