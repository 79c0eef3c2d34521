"""Fault injection, part 1: checkpoint files that are interrupted, damaged, foreign or stale.

Each test reproduces a fault a student or instructor can plausibly meet and checks that the
checkpoint code either does the right thing or stops with an error naming the problem and the
fix, and that nothing the user saved is lost. (Part 2, tests/test_faults_resume.py, interrupts
training loops; part 3, tests/test_faults_cli.py, the command line; bad numeric input is in
tests/test_faults_inputs.py.)
"""

from __future__ import annotations

import struct

import pytest
import torch
from torch import nn

from course_lib.runtime import checkpoints
from course_lib.runtime.checkpoints import (
    OLDER_FORMAT,
    CheckpointMismatchError,
    load_or_train,
    partial_path,
    read_checkpoint,
    save_checkpoint,
)
from course_lib.runtime.checksums import ChecksumError, checksum_path, write_checksum
from course_lib.runtime.code_version import code_version
from course_lib.training.fit import fit

pytestmark = pytest.mark.usefixtures("quiet_progress")
EXPECT = {"recipe": "autoencoder", "profile": "smoke"}


def linear(value: float | None = None, seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    model = nn.Linear(4, 4)
    if value is not None:
        with torch.no_grad():
            model.weight.fill_(value)
    return model


class Trainer:
    """Stands in for a training loop: counts calls and remembers where it was asked to save."""

    def __init__(self):
        self.calls, self.checkpoint = 0, None

    def __call__(self, checkpoint=None):
        self.calls, self.checkpoint = self.calls + 1, checkpoint
        return {"train_loss": [9.0]}


# ---- an interrupted save ----------------------------------------------------------------------


def test_an_interrupted_save_leaves_the_old_checkpoint_whole_and_no_partial_file(
    tmp_path, monkeypatch
):
    path = save_checkpoint(tmp_path / "run.pt", linear(1.0), epoch=1)
    old_bytes = path.read_bytes()
    real_save = torch.save

    def save_half_then_interrupt(state, file):
        real_save(state, file)
        file.truncate(file.tell() // 2)  # half the bytes are on disk when Ctrl-C arrives
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints.torch, "save", save_half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, linear(2.0), epoch=2)
    assert path.read_bytes() == old_bytes  # the old checkpoint, never a mix
    assert read_checkpoint(path)["epoch"] == 1
    assert not partial_path(path).exists()  # cleaned up, not left half-written


def test_ctrl_c_inside_torch_save_is_reported_as_an_interruption_not_a_zip_error(
    tmp_path, monkeypatch
):
    path = save_checkpoint(tmp_path / "run.pt", linear(1.0), epoch=1)
    old_bytes = path.read_bytes()
    real_save = torch.save

    class InterruptedFile:
        """A file whose write is cut by Ctrl-C after 100 bytes, as a signal would cut it."""

        def __init__(self, file):
            self.file, self.written = file, 0

        def write(self, data):
            if self.written > 100:
                raise KeyboardInterrupt
            self.written += len(data)
            return self.file.write(data)

        def flush(self):
            self.file.flush()

    # torch's zip writer, closing after the interruption, raises its own RuntimeError.
    monkeypatch.setattr(
        checkpoints.torch, "save", lambda state, file: real_save(state, InterruptedFile(file))
    )
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, linear(2.0), epoch=2)
    assert path.read_bytes() == old_bytes
    assert not partial_path(path).exists()


def test_a_partial_file_left_by_a_hard_kill_is_replaced_by_the_next_save(tmp_path):
    path = tmp_path / "run.pt"
    partial_path(path).write_bytes(b"half a checkpoint from a killed process")
    save_checkpoint(path, linear(1.0))
    assert not partial_path(path).exists()
    assert torch.equal(read_checkpoint(path)["model"]["weight"], torch.full((4, 4), 1.0))


# ---- damage the container does not notice -----------------------------------------------------


def test_a_flipped_bit_in_the_weights_is_caught_by_the_content_digest(tmp_path):
    path = save_checkpoint(tmp_path / "run.pt", linear(1234.5678))
    data = bytearray(path.read_bytes())
    where = data.find(struct.pack("<f", 1234.5678))  # the weights are stored uncompressed
    data[where] ^= 0x01
    path.write_bytes(bytes(data))
    # torch.load alone accepts the file and returns a slightly different weight ...
    loaded = torch.load(path, weights_only=True)["model"]["weight"]
    assert loaded[0, 0].item() != pytest.approx(1234.5678, abs=1e-6)
    # ... the recorded content digest does not.
    with pytest.raises(ChecksumError, match="damaged.*Move it aside"):
        read_checkpoint(path)


def test_a_truncated_file_is_an_error_that_says_to_move_it_aside(tmp_path):
    path = save_checkpoint(tmp_path / "run.pt", linear(1.0))
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ValueError, match="not a readable checkpoint.*Move it aside"):
        read_checkpoint(path)


# ---- published checksum files -----------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    ["", "\n", "not a checksum\n", "abc123  run.pt\n", f"{'a' * 64}\n{'b' * 64}  run.pt\n"],
    ids=["empty", "blank-line", "words", "short-digest", "two-lines"],
)
def test_an_empty_or_malformed_checksum_file_is_a_clear_checksum_error(tmp_path, content):
    path = save_checkpoint(tmp_path / "run.pt", linear(1.0), **EXPECT, history={})
    checksum_path(path).write_text(content)
    trainer = Trainer()
    with pytest.raises(ChecksumError, match=r"expected '<64 hex digits>  <file name>'"):
        load_or_train(path, linear(), trainer, expect=EXPECT)
    assert trainer.calls == 0
    # Asked to train when the file is unusable, it trains and leaves both files alone.
    before = path.read_bytes()
    assert load_or_train(path, linear(), trainer, expect=EXPECT, train_if_unusable=True)[1] == (
        "trained"
    )
    assert trainer.calls == 1 and trainer.checkpoint is None  # nothing saved over the file
    assert path.read_bytes() == before and checksum_path(path).read_text() == content


def test_a_checksum_file_of_another_file_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "run.pt", linear(1.0), **EXPECT, history={})
    checksum_path(path).write_text(f"{'0' * 64}  other.pt\n")
    with pytest.raises(ChecksumError, match="checksum of 'other.pt', not of 'run.pt'"):
        load_or_train(path, linear(), Trainer(), expect=EXPECT)


def test_a_published_checksum_is_written_in_one_step_and_verified(tmp_path):
    path = save_checkpoint(tmp_path / "run.pt", linear(1.0), **EXPECT, history={"a": [1.0]})
    write_checksum(path)
    assert not partial_path(checksum_path(path)).exists()
    assert load_or_train(path, linear(), Trainer(), expect=EXPECT) == ({"a": [1.0]}, "loaded")


# ---- what a checkpoint records, and loading compares ------------------------------------------


def small_fit(path, seed: int = 0, epochs: int = 2):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    x = torch.randn(40, 3, generator=torch.Generator().manual_seed(1))
    fit(
        model,
        lambda m, b: m(b).pow(2).mean(),
        x,
        optimizer=torch.optim.Adam(model.parameters(), lr=0.01),
        epochs=epochs,
        batch_size=8,
        seed=seed,
        checkpoint=path,
    )
    return read_checkpoint(path)


def test_two_identical_runs_record_the_same_content_digest_and_another_seed_does_not(tmp_path):
    first, second = small_fit(tmp_path / "a.pt"), small_fit(tmp_path / "b.pt")
    assert first["history"]["seconds"] != second["history"]["seconds"]  # wall clock differs ...
    assert first["content_digest"] == second["content_digest"]  # ... and is left out
    assert small_fit(tmp_path / "c.pt", seed=1)["content_digest"] != first["content_digest"]


def test_a_loop_checkpoint_records_its_settings_progress_and_the_code_version(tmp_path):
    state = small_fit(tmp_path / "a.pt", seed=3)
    assert state["code"] == code_version()
    assert state["progress"] == {"epochs_done": 2, "epochs": 2}
    assert {"loop": "fit", "seed": 3, "batch_size": 8, "processes": 1}.items() <= state[
        "run"
    ].items()
    assert len(state["run"]["data_digest"]) == 16


def test_loading_names_every_entry_that_differs(tmp_path):
    run = {**EXPECT, "data": {"kind": "digits-fallback", "train_images": 1437}}
    path = save_checkpoint(tmp_path / "run.pt", linear(1.0), run=run, history={})
    wanted = {
        "recipe": "autoencoder",
        "profile": "cpu",
        "data": {"kind": "full", "train_images": 12000},
    }
    with pytest.raises(CheckpointMismatchError) as info:
        load_or_train(path, linear(), Trainer(), expect=wanted)
    message = str(info.value)
    assert "profile: the file has 'smoke', this run has 'cpu'" in message
    assert "data: the file has {'kind': 'digits-fallback'" in message
    assert "recipe" not in message.split("another run:")[1].split(";")[0]  # the recipe agrees


def test_a_checkpoint_without_a_data_record_is_not_taken_for_mnist(tmp_path):
    # A file written before checkpoints recorded their data cannot vouch for it.
    path = save_checkpoint(tmp_path / "run.pt", linear(1.0), **EXPECT, history={})
    with pytest.raises(CheckpointMismatchError, match=r"data: the file records none"):
        load_or_train(path, linear(), Trainer(), expect={**EXPECT, "data": {"kind": "full"}})


def test_a_file_from_other_code_loads_with_a_note(tmp_path, capsys):
    path = save_checkpoint(tmp_path / "run.pt", linear(1.0), **EXPECT, history={})
    state = torch.load(path, weights_only=True)
    state["code"] = "0123456789abcdef"
    state["content_digest"] = checkpoints.content_digest(state)
    torch.save(state, path)
    assert load_or_train(path, linear(), Trainer(), expect=EXPECT)[1] == "loaded"
    assert "written by other course_lib code (version 0123456789abcdef" in capsys.readouterr().out


def test_an_unfinished_run_is_continued_by_load_or_train(tmp_path):
    state_path = tmp_path / "run.pt"
    save_checkpoint(
        state_path, linear(1.0), run=EXPECT, progress={"epochs_done": 1, "epochs": 3}, history={}
    )
    trainer = Trainer()
    assert load_or_train(state_path, linear(), trainer, expect=EXPECT)[1] == "resumed"
    assert trainer.checkpoint.path == state_path and dict(trainer.checkpoint.run) == EXPECT


def test_without_a_file_load_or_train_trains_into_it_recording_what_it_expects(tmp_path):
    trainer = Trainer()
    assert load_or_train(tmp_path / "new.pt", linear(), trainer, expect=EXPECT)[1] == "trained"
    assert trainer.checkpoint.path == tmp_path / "new.pt"
    assert dict(trainer.checkpoint.run) == EXPECT


def test_an_older_checkpoint_without_a_digest_still_reads(tmp_path):
    # The cached judges were written before checkpoints carried a digest.
    path = tmp_path / "judge.pt"
    model = linear(1.0)
    torch.save(
        {
            "format": OLDER_FORMAT,
            "signature": checkpoints.model_signature(model),
            "model": model.state_dict(),
            "optimizer": None,
        },
        path,
    )
    assert torch.equal(read_checkpoint(path)["model"]["weight"], model.weight.detach())


def test_a_foreign_pickle_is_refused_without_running_it(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": checkpoints.FORMAT, "payload": Trainer()}, path)
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        read_checkpoint(path)


def test_a_run_of_other_epochs_or_seed_is_not_loaded_as_the_notebooks(tmp_path):
    # `--epochs 3` made a finished 3-epoch run; the notebook's profile trains 20 with seed 0.
    run = {**EXPECT, "seed": 1}
    path = save_checkpoint(
        tmp_path / "run.pt", linear(1.0), run=run, progress={"epochs_done": 3, "epochs": 3}
    )
    with pytest.raises(CheckpointMismatchError) as info:
        load_or_train(path, linear(), Trainer(), expect={**EXPECT, "seed": 0, "epochs": 20})
    assert "seed: the file has 1, this run has 0" in str(info.value)
    assert "epochs: the file has 3, this run has 20" in str(info.value)


def test_a_value_that_could_not_be_read_back_is_refused_before_anything_is_written(tmp_path):
    import numpy as np

    path = tmp_path / "run.pt"
    with pytest.raises(TypeError, match=r"not a numpy.float64 .*float\(\)"):
        save_checkpoint(path, linear(1.0), history={"loss": [np.float64(0.5)]})
    assert not path.exists() and not partial_path(path).exists()
