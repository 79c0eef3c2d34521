"""Fault injection, part 3: the command line, ``python -m course_lib.recipes``.

Every bad argument is refused before any training starts (no data line printed, no file
written), settings come from the flags or the environment and are printed, and a real process
interrupted by SIGINT, at a random moment of training or in the middle of writing a checkpoint,
leaves the old valid checkpoint or the new valid one, never a mix, from which ``--resume``
finishes with exactly the weights of a run that was never interrupted.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from shared_data import SHARED_DATA

from course_lib import recipes
from course_lib.data.mnist import TEST_FILES, copies_of
from course_lib.runtime.checkpoints import (
    CheckpointMismatchError,
    load_or_train,
    partial_path,
    read_checkpoint,
    save_checkpoint,
)
from course_lib.runtime.checksums import checksum_path, sha256_of

pytestmark = pytest.mark.usefixtures("quiet_progress")
REPO = Path(recipes.__file__).resolve().parents[1]


def cli(capsys, *arguments: str) -> tuple[int, str, str]:
    """Run the command line in this process: (exit code, stdout, stderr)."""
    code = recipes.main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def weights_of(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["model"]


# ---- arguments refused before any work --------------------------------------------------------


@pytest.mark.parametrize("recipe", ["autoencoder", "dcgan", "rbm"])
@pytest.mark.parametrize(
    "flag, value",
    [("--epochs", "0"), ("--epochs", "-3"), ("--batch-size", "0"), ("--train-images", "0")],
)
def test_counts_below_one_are_refused_before_training(tmp_path, capsys, recipe, flag, value):
    out = tmp_path / "x.pt"
    code, printed, error = cli(capsys, recipe, "--profile", "smoke", flag, value, "--out", str(out))
    assert code == 2 and f"{flag} must be a positive whole number, got {value}" in error
    assert "data:" not in printed and not out.exists()


def test_a_folder_as_out_is_refused(tmp_path, capsys):
    code, printed, error = cli(capsys, "gan", "--profile", "smoke", "--out", str(tmp_path))
    assert code == 2 and "is a folder; give a file name" in error and "data:" not in printed


def test_an_existing_file_is_kept_unless_resume_or_overwrite_is_asked(tmp_path, capsys):
    out = tmp_path / "keep.pt"
    out.write_bytes(b"the user's file")
    code, _, error = cli(capsys, "autoencoder", "--profile", "smoke", "--out", str(out))
    assert code == 2 and "Pass --resume to continue it, --overwrite" in error
    # Even --overwrite does not replace what is not a checkpoint of this recipe.
    code, printed, error = cli(
        capsys, "autoencoder", "--profile", "smoke", "--out", str(out), "--overwrite"
    )
    assert code == 2 and "not a checkpoint this command can replace" in error
    assert "data:" not in printed and out.read_bytes() == b"the user's file"


def test_another_recipes_checkpoint_is_replaced_only_with_overwrite(
    tmp_path, capsys, offline_data_dir
):
    out = tmp_path / "ae.pt"
    save_checkpoint(out, recipes.build_model("autoencoder", "smoke"), run={"recipe": "autoencoder"})
    before = out.read_bytes()
    for flags in ([], ["--resume"]):  # refused before any data is loaded
        code, printed, error = cli(capsys, "gan", "--profile", "smoke", "--out", str(out), *flags)
        assert code == 2 and "data:" not in printed and out.read_bytes() == before
        assert "already exists" in error or "holds a checkpoint of 'autoencoder', not of" in error
    arguments = ["gan", "--profile", "smoke", "--train-images", "128", "--epochs", "1"]
    code, printed, _ = cli(capsys, *arguments, "--out", str(out), "--overwrite")
    assert code == 0 and "the 'autoencoder' checkpoint" in printed and "is replaced" in printed
    assert read_checkpoint(out)["run"]["recipe"] == "gan"


def test_resume_without_a_run_and_overwrite_with_resume_are_refused(tmp_path, capsys):
    code, _, error = cli(
        capsys, "gan", "--profile", "smoke", "--out", str(tmp_path / "n.pt"), "--resume"
    )
    assert code == 2 and "there is no run to continue" in error
    with pytest.raises(SystemExit) as info:
        recipes.main(["gan", "--out", str(tmp_path / "n.pt"), "--resume", "--overwrite"])
    assert info.value.code == 2 and "pass one of them" in capsys.readouterr().err


def test_a_lone_checksum_file_is_not_silently_replaced(tmp_path, capsys):
    out = tmp_path / "gan.pt"
    checksum_path(out).write_text(f"{'0' * 64}  gan.pt\n")
    code, _, error = cli(capsys, "gan", "--profile", "smoke", "--out", str(out))
    assert code == 2 and "without its checkpoint" in error
    assert checksum_path(out).read_text() == f"{'0' * 64}  gan.pt\n"


@pytest.mark.parametrize(
    "environment, flag, message",
    [
        ({"COURSE_DEVICE": "gpu"}, [], "$COURSE_DEVICE=gpu is not a device name. Valid here: cpu"),
        ({}, ["--device", "mps"], "--device=mps is not available on this machine"),
        ({"COURSE_PROFILE": "laptop"}, [], "Unknown run profile 'laptop'"),
    ],
)
def test_device_and_profile_names_are_checked_with_the_valid_ones_listed(
    tmp_path, capsys, monkeypatch, environment, flag, message
):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    code, printed, error = cli(capsys, "gan", *flag, "--out", str(tmp_path / "g.pt"))
    assert code == 2 and message in error and "data:" not in printed


def test_the_data_found_must_hold_the_images_asked_for(tmp_path, capsys, monkeypatch):
    empty = tmp_path / "no-data"
    empty.mkdir()
    empty.chmod(0o555)  # nothing downloads into it: the digits fallback is all there is
    monkeypatch.setenv("COURSE_DATA_DIR", str(empty))
    out = tmp_path / "ae.pt"
    with pytest.warns(UserWarning, match="NOT MNIST"):
        code, _, error = cli(
            capsys, "autoencoder", "--profile", "smoke", "--train-images", "5000", "--out", str(out)
        )
    assert code == 2 and "--train-images 5,000 asks for more training images than the data" in error
    assert "NOT MNIST" in error and not out.exists()


SHARED_TEST_FILES = [
    copy for name in TEST_FILES for copy in copies_of(SHARED_DATA / "MNIST" / "raw", name)[:1]
]


@pytest.mark.skipif(
    len(SHARED_TEST_FILES) < len(TEST_FILES),
    reason=f"needs the MNIST test files in {SHARED_DATA} (set $COURSE_DATA_DIR to the shared data)",
)
def test_the_offline_pool_is_not_silently_cut_to_8000(tmp_path, capsys, monkeypatch):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for copy in SHARED_TEST_FILES:  # the test files only: the offline pool of 8,000 / 2,000
        (raw / copy.name).symlink_to(copy)
    raw.chmod(0o555)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    code, _, error = cli(
        capsys,
        "gan",
        "--profile",
        "smoke",
        "--train-images",
        "50000",
        "--out",
        str(tmp_path / "g.pt"),
    )
    assert code == 2 and "holds (8,000): MNIST offline pool" in error


# ---- what a run records, and the environment it honours ---------------------------------------


def test_course_profile_is_honoured_and_the_run_is_recorded(
    tmp_path, capsys, monkeypatch, offline_data_dir
):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    out = tmp_path / "ae.pt"
    code, printed, _ = cli(
        capsys, "autoencoder", "--epochs", "2", "--train-images", "64", "--out", str(out)
    )
    assert code == 0
    assert "profile smoke ($COURSE_PROFILE), device cpu ($COURSE_DEVICE)" in printed
    assert "data: " in printed and "holds the finished run (2 of 2 epochs)" in printed
    saved = read_checkpoint(out)
    for key, value in {"recipe": "autoencoder", "profile": "smoke", "seed": 0}.items():
        assert saved["run"][key] == value
    assert saved["run"]["batch_size"] == recipes.settings_for("01_autoencoder", "smoke").batch_size
    assert saved["run"]["data"]["train_images"] == 64
    assert saved["progress"] == {"epochs_done": 2, "epochs": 2}
    # A notebook expecting other data (here: the full MNIST when this was the fallback, or the
    # other way round) is told so instead of loading it.
    other = {**saved["run"]["data"], "kind": "elsewhere"}
    with pytest.raises(CheckpointMismatchError, match="data: the file has"):
        load_or_train(
            out,
            recipes.build_model("autoencoder", "smoke"),
            lambda checkpoint: None,
            expect={"recipe": "autoencoder", "profile": "smoke", "data": other},
        )


@pytest.mark.parametrize("recipe", ["autoencoder", "dcgan"])
def test_two_identical_runs_write_the_same_content_digest(
    tmp_path, capsys, offline_data_dir, recipe
):
    digests = []
    for name in ("first.pt", "second.pt"):
        arguments = [recipe, "--profile", "smoke", "--epochs", "1", "--train-images", "128"]
        assert cli(capsys, *arguments, "--out", str(tmp_path / name))[0] == 0
        digests.append(read_checkpoint(tmp_path / name)["content_digest"])
    assert digests[0] == digests[1]


def test_resume_of_a_finished_run_changes_nothing_and_fewer_epochs_are_refused(
    tmp_path, capsys, offline_data_dir
):
    out = tmp_path / "gan.pt"
    arguments = ["gan", "--profile", "smoke", "--train-images", "128", "--out", str(out)]
    assert cli(capsys, *arguments, "--epochs", "2")[0] == 0
    before = out.read_bytes()
    code, printed, _ = cli(capsys, *arguments, "--epochs", "2", "--resume")
    assert code == 0 and "holds the finished run (2 of 2 epochs)" in printed
    code, _, error = cli(capsys, *arguments, "--epochs", "1", "--resume")
    assert code == 2 and "already trained 2 epochs, more than the 1 asked for" in error
    assert out.read_bytes() == before


def test_overwrite_starts_over_and_the_first_save_removes_the_stale_checksum(
    tmp_path, capsys, offline_data_dir
):
    out = tmp_path / "gan.pt"
    arguments = [
        "gan",
        "--profile",
        "smoke",
        "--train-images",
        "128",
        "--epochs",
        "1",
        "--out",
        str(out),
    ]
    assert cli(capsys, *arguments)[0] == 0
    checksum_path(out).write_text(f"{'0' * 64}  gan.pt\n")
    partial_path(out).write_bytes(b"left by a killed save")
    code, printed, _ = cli(capsys, *arguments, "--overwrite")
    assert code == 0
    assert f"removing {partial_path(out)}" in printed and f"removed {checksum_path(out)}" in printed
    assert not checksum_path(out).exists() and not partial_path(out).exists()
    assert read_checkpoint(out)["progress"]["epochs_done"] == 1


# ---- a real process, interrupted by SIGINT ----------------------------------------------------

GAN = ["gan", "--profile", "smoke", "--train-images", "1024", "--epochs", "8"]  # about 5 s

# Runs the command line with a torch.save that pauses half-way through the ``slow_save``-th save
# and says so: the test then sends SIGINT in the middle of writing the checkpoint.
SLOW_SAVE = """
import runpy, sys, time, torch
real_save, calls, slow_save = torch.save, [0], int(sys.argv.pop(1))
def save(state, file, *args, **kwargs):
    real_save(state, file, *args, **kwargs)
    calls[0] += 1
    if calls[0] == slow_save:
        file.truncate(file.tell() // 2)  # half written
        print("SAVING", flush=True)
        time.sleep(60)
torch.save = save
sys.argv[0] = "course_lib.recipes"
runpy.run_module("course_lib.recipes", run_name="__main__", alter_sys=True)
"""


def environment(data_dir: str) -> dict[str, str]:
    return {
        **os.environ,
        "COURSE_DATA_DIR": data_dir,
        "COURSE_PROGRESS": "off",
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }


def command_line(*arguments: str, data_dir: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "course_lib.recipes", *arguments],
        env=environment(data_dir),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


def default_sigint() -> None:
    """In the child before it starts: SIGINT's default action. A parent that ignores SIGINT
    (a test worker after some library set that up) would otherwise pass the ignoring on, and
    Python then installs no KeyboardInterrupt handler: the signal would be lost."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(process: subprocess.Popen, when: str, delay: float = 0.0) -> int:
    """Wait for a stdout line starting with ``when``, then ``delay`` seconds; send SIGINT."""
    printed = []
    for line in process.stdout:
        printed.append(line)
        if line.startswith(when):
            break
    else:  # the command ended without the line: say what it printed instead
        pytest.fail(
            f"exit {process.wait()} before a line starting with {when!r}; stdout:\n"
            f"{''.join(printed)}\nstderr:\n{process.stderr.read()}"
        )
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    return process.wait(timeout=120)


def check_folder_then_resume(folder: Path, out: Path, data_dir: str, reference: Path) -> int:
    """The folder holds nothing or one valid checkpoint; --resume then ends like ``reference``."""
    assert sorted(p.name for p in folder.iterdir()) in ([], [out.name])  # no .partial, no mix
    done = read_checkpoint(out)["progress"]["epochs_done"] if out.exists() else 0
    flag = ["--resume"] if out.exists() else []
    finished = command_line(*GAN, "--out", str(out), *flag, data_dir=data_dir)
    assert finished.returncode == 0, finished.stderr
    reference_weights = weights_of(reference)
    for name, value in weights_of(out).items():
        assert torch.equal(value, reference_weights[name]), name
    assert (
        read_checkpoint(out)["history"]["g_loss"] == read_checkpoint(reference)["history"]["g_loss"]
    )
    return done


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference: the same run, never interrupted (and its data folder)."""
    folder = tmp_path_factory.mktemp("reference")
    data_dir = os.environ.get("COURSE_DATA_DIR", "").strip()
    if not data_dir:
        data_dir = str(folder / "no-data")
        Path(data_dir).mkdir(mode=0o555)
    reference = folder / "gan.pt"
    result = command_line(*GAN, "--out", str(reference), data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    return reference, data_dir


def test_sigint_at_a_random_moment_of_training_then_resume_gives_the_uninterrupted_weights(
    tmp_path, uninterrupted
):
    reference, data_dir = uninterrupted
    folder, out = tmp_path / "run", tmp_path / "run" / "gan.pt"
    folder.mkdir()
    delay = random.Random().uniform(0.0, 4.0)  # a different moment on every test run
    process = subprocess.Popen(
        [sys.executable, "-m", "course_lib.recipes", *GAN, "--out", str(out)],
        env=environment(data_dir),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    code, error = interrupt(process, "data:", delay), process.stderr.read()
    assert code in (0, 130, -signal.SIGINT), error  # 0: it was over; -SIGINT: while it exited
    if code == 130:
        assert "interrupted." in error
    done = check_folder_then_resume(folder, out, data_dir, reference)
    print(f"interrupted {delay:.2f} s into training, after {done} of 8 epochs")


@pytest.mark.parametrize("slow_save", [1, 3], ids=["first-save", "third-save"])
def test_sigint_in_the_middle_of_a_save_keeps_the_previous_checkpoint(
    tmp_path, uninterrupted, slow_save
):
    reference, data_dir = uninterrupted
    folder, out = tmp_path / "run", tmp_path / "run" / "gan.pt"
    folder.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_SAVE, str(slow_save), *GAN, "--out", str(out)],
        env=environment(data_dir),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    assert interrupt(process, "SAVING") == 130
    assert "interrupted." in process.stderr.read()
    # The save of epoch `slow_save` was cut: the file holds the epoch before, whole, or nothing.
    expected = slow_save - 1
    assert (read_checkpoint(out)["progress"]["epochs_done"] if out.exists() else 0) == expected
    assert check_folder_then_resume(folder, out, data_dir, reference) == expected


def test_a_refused_overwrite_or_resume_leaves_the_old_files_alone(
    tmp_path, capsys, offline_data_dir
):
    out = tmp_path / "ae.pt"
    arguments = ["autoencoder", "--profile", "smoke", "--out", str(out)]
    assert cli(capsys, *arguments, "--train-images", "64", "--epochs", "1")[0] == 0
    checksum_path(out).write_text(f"{sha256_of(out)}  ae.pt\n")  # as if published
    before, published = out.read_bytes(), checksum_path(out).read_text()
    # More images than there are: refused once the data is loaded, before anything is saved.
    code, _, error = cli(capsys, *arguments, "--train-images", "9999999", "--overwrite")
    assert code == 2 and "--train-images 9,999,999" in error
    # --resume with another seed or profile is refused before the data is even loaded.
    for flag in (["--seed", "1"], ["--profile", "cpu"]):
        code, printed, error = cli(capsys, *arguments, "--train-images", "64", "--resume", *flag)
        assert code == 2 and "holds a run with other settings" in error and "data:" not in printed
    # --resume of the finished run: nothing to do, and nothing loaded or written.
    code, printed, _ = cli(capsys, *arguments, "--train-images", "64", "--resume")
    assert code == 0 and "nothing to continue" in printed and "data:" not in printed
    assert out.read_bytes() == before and checksum_path(out).read_text() == published


def test_resume_keeps_a_finished_checkpoint_of_an_older_version(tmp_path, capsys):
    out = tmp_path / "gan.pt"  # what `make checkpoints` wrote before runs could be continued
    save_checkpoint(out, recipes.build_model("gan", "smoke"), recipe="gan", profile="smoke")
    before = out.read_bytes()
    code, printed, _ = cli(capsys, "gan", "--profile", "smoke", "--out", str(out), "--resume")
    assert code == 0 and "finished checkpoint of an older course_lib" in printed
    assert out.read_bytes() == before


@pytest.mark.parametrize("seed", ["-1", str(2**64)])
def test_a_seed_out_of_range_is_refused(tmp_path, capsys, seed):
    out = str(tmp_path / "g.pt")
    code, _, error = cli(capsys, "gan", "--profile", "smoke", "--seed", seed, "--out", out)
    assert code == 2 and "--seed must be a whole number from 0 to 2**63 - 1" in error


def test_a_torchrun_run_continued_on_two_processes_matches_an_uninterrupted_one(
    tmp_path, offline_data_dir
):
    # Each process draws its own VAE noise: a continued run must give each its own stream back.
    def torchrun(*arguments: str) -> None:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command += ["--nproc_per_node", "2", "-m", "course_lib.recipes", "vae"]
        command += ["--profile", "smoke", "--train-images", "256", *arguments]
        result = subprocess.run(
            command,
            env=environment(offline_data_dir),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-2000:]

    torchrun("--epochs", "3", "--out", str(tmp_path / "straight.pt"))
    torchrun("--epochs", "1", "--out", str(tmp_path / "resumed.pt"))
    torchrun("--epochs", "3", "--out", str(tmp_path / "resumed.pt"), "--resume")
    straight, resumed = weights_of(tmp_path / "straight.pt"), weights_of(tmp_path / "resumed.pt")
    for name, value in straight.items():
        assert torch.equal(resumed[name], value), name
    assert len(read_checkpoint(tmp_path / "resumed.pt")["ranks"]) == 2
