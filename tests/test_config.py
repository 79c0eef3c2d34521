"""Run profiles, settings, the data directory, device choice and seeding
(course_lib.runtime.config)."""

from __future__ import annotations

import dataclasses
import numbers
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib.runtime import config
from course_lib.runtime.config import (
    PROFILES,
    UnknownProfileError,
    active_profile,
    data_dir,
    pick_device,
    seed_everything,
    settings_for,
)
from course_lib.runtime.profiles import NOTEBOOK_SETTINGS

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def no_course_env(monkeypatch):
    for name in ("COURSE_PROFILE", "COURSE_DATA_DIR", "COURSE_DEVICE"):
        monkeypatch.delenv(name, raising=False)


def test_profiles_are_the_three_documented_ones():
    assert set(PROFILES) == {"smoke", "cpu", "book", "gpu"}


def test_unknown_profile_from_environment_lists_every_valid_profile(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "fast")
    with pytest.raises(UnknownProfileError) as info:
        active_profile()
    message = str(info.value)
    assert "'fast'" in message
    for name in ("smoke", "cpu", "book", "gpu"):
        assert name in message
    assert isinstance(info.value, ValueError)


def test_unknown_profile_argument_to_settings_for_is_rejected(no_course_env):
    with pytest.raises(UnknownProfileError, match="smoke, cpu, book, gpu"):
        settings_for("01_autoencoder", "turbo")


@pytest.mark.parametrize(
    "raw, expected", [("SMOKE", "smoke"), (" Gpu ", "gpu"), ("cpu", "cpu"), ("Cpu\n", "cpu")]
)
def test_profile_read_from_environment_case_insensitively(monkeypatch, raw, expected):
    monkeypatch.setenv("COURSE_PROFILE", raw)
    assert active_profile() == expected


@pytest.mark.parametrize("cuda, expected", [(False, "cpu"), (True, "gpu")])
def test_default_profile_follows_cuda_availability(monkeypatch, no_course_env, cuda, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert active_profile() == expected
    monkeypatch.setenv("COURSE_PROFILE", "   ")  # blank counts as unset
    assert active_profile() == expected


@pytest.mark.parametrize("profile", ["smoke", "cpu", "gpu"])
def test_settings_for_returns_that_profiles_values(no_course_env, profile):
    settings = settings_for("01_autoencoder", profile)
    expected = NOTEBOOK_SETTINGS["01_autoencoder"][profile]
    assert settings.profile == profile and settings.notebook == "01_autoencoder"
    assert dict(settings.values) == expected
    for key, value in expected.items():
        assert getattr(settings, key) == value
    assert f"profile '{profile}'" in settings.describe()


def test_settings_for_uses_the_active_profile_by_default(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    assert settings_for("01_autoencoder").profile == "smoke"
    assert (
        settings_for("01_autoencoder").epochs
        == NOTEBOOK_SETTINGS["01_autoencoder"]["smoke"]["epochs"]
    )
    monkeypatch.setenv("COURSE_PROFILE", "cpu")
    assert (
        settings_for("01_autoencoder").epochs
        == NOTEBOOK_SETTINGS["01_autoencoder"]["cpu"]["epochs"]
    )


def test_settings_are_read_only(no_course_env):
    settings = settings_for("01_autoencoder", "smoke")
    before = settings.epochs
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.epochs = before + 100
    with pytest.raises(TypeError):
        settings.values["epochs"] = before + 100
    assert settings.epochs == before
    # The shared table is not exposed: changing a returned view cannot leak into the next call.
    assert NOTEBOOK_SETTINGS["01_autoencoder"]["smoke"]["epochs"] == before


def test_unknown_setting_name_lists_the_available_ones(no_course_env):
    settings = settings_for("01_autoencoder", "cpu")
    with pytest.raises(AttributeError) as info:
        settings.epoch  # typo for 'epochs'
    message = str(info.value)
    assert "'epoch'" in message
    for key in NOTEBOOK_SETTINGS["01_autoencoder"]["cpu"]:
        assert key in message


def test_unknown_notebook_raises_key_error_naming_known_ones(no_course_env):
    with pytest.raises(KeyError) as info:
        settings_for("99_nonexistent", "cpu")
    assert "99_nonexistent" in str(info.value)
    assert "01_autoencoder" in str(info.value)


@pytest.mark.parametrize("notebook", sorted(NOTEBOOK_SETTINGS))
def test_every_notebook_defines_the_three_profiles_with_the_same_keys(notebook):
    profiles = NOTEBOOK_SETTINGS[notebook]
    assert set(profiles) == set(PROFILES)
    keys = {name: set(values) for name, values in profiles.items()}
    assert keys["smoke"] == keys["cpu"] == keys["book"] == keys["gpu"], keys
    assert keys["cpu"], "a notebook entry without settings is useless"


@pytest.mark.parametrize("notebook", sorted(NOTEBOOK_SETTINGS))
def test_smoke_sizes_never_exceed_cpu_sizes(notebook):
    smoke, cpu = NOTEBOOK_SETTINGS[notebook]["smoke"], NOTEBOOK_SETTINGS[notebook]["cpu"]
    numeric = [k for k, v in cpu.items() if isinstance(v, numbers.Real) and not isinstance(v, bool)]
    assert numeric, "expected at least one numeric size"
    too_big = {k: (smoke[k], cpu[k]) for k in numeric if smoke[k] > cpu[k]}
    assert not too_big, f"smoke larger than cpu for {too_big}"


def test_data_dir_defaults_to_repo_data(monkeypatch):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    assert data_dir() == REPO / "data"
    monkeypatch.setenv("COURSE_DATA_DIR", "  ")
    assert data_dir() == REPO / "data"


def test_data_dir_honours_environment(monkeypatch, tmp_path):
    target = tmp_path / "datasets"
    target.mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(target))
    assert data_dir() == target.resolve()


def test_data_dir_expands_user(monkeypatch, tmp_path):
    (tmp_path / "mnist_home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("COURSE_DATA_DIR", "~/mnist_home")
    assert data_dir() == (tmp_path / "mnist_home").resolve()


@pytest.mark.parametrize("make_file", [False, True], ids=["missing", "a-file"])
def test_data_dir_that_is_not_a_directory_names_path_and_fix(monkeypatch, tmp_path, make_file):
    target = tmp_path / "nowhere"
    if make_file:
        target.write_text("not a directory")
    monkeypatch.setenv("COURSE_DATA_DIR", str(target))
    with pytest.raises(FileNotFoundError) as info:
        data_dir()
    message = str(info.value)
    assert str(target.resolve()) in message
    assert "COURSE_DATA_DIR" in message and "unset" in message.lower()


def test_pick_device_honours_course_device_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # even where CUDA exists
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")


def test_pick_device_default_follows_cuda(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device().type == "cuda"


@pytest.mark.parametrize("requested", ["cuda", "cuda:1"])
def test_pick_device_cuda_without_cuda_is_a_clear_error(monkeypatch, requested):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", requested)
    with pytest.raises(ValueError) as info:
        pick_device()
    message = str(info.value)
    assert f"COURSE_DEVICE={requested}" in message
    assert "not available on this machine" in message and "Valid here: cpu" in message


@pytest.mark.parametrize("requested", ["gpu", "GPU0", "mps"])
def test_pick_device_names_the_valid_devices_for_a_wrong_name(monkeypatch, requested):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", requested)
    with pytest.raises(ValueError, match=f"COURSE_DEVICE={requested} .*Valid here: cpu"):
        pick_device()


def _draws(generator: torch.Generator):
    return (
        torch.randn(5),
        np.random.rand(5),
        [random.random() for _ in range(5)],
        torch.randn(5, generator=generator),
        torch.randperm(20, generator=generator),
    )


def test_seed_everything_same_seed_same_draws():
    first = _draws(seed_everything(123))
    second = _draws(seed_everything(123))
    assert torch.equal(first[0], second[0])
    assert np.array_equal(first[1], second[1])
    assert first[2] == second[2]
    assert torch.equal(first[3], second[3])
    assert torch.equal(first[4], second[4])


def test_seed_everything_different_seed_different_draws():
    first = _draws(seed_everything(123))
    other = _draws(seed_everything(124))
    assert not torch.equal(first[0], other[0])
    assert not np.array_equal(first[1], other[1])
    assert first[2] != other[2]
    assert not torch.equal(first[3], other[3])


def test_seed_everything_returns_an_independent_cpu_generator():
    generator = seed_everything(7)
    assert isinstance(generator, torch.Generator) and generator.device.type == "cpu"
    expected = torch.Generator().manual_seed(7)
    torch.randn(100)  # drawing from the global RNG must not move the returned generator
    assert torch.equal(torch.randn(4, generator=generator), torch.randn(4, generator=expected))


def test_repo_root_is_the_checkout():
    assert config.REPO_ROOT == REPO
    assert (config.REPO_ROOT / "pyproject.toml").is_file()


# ---------------------------------------------------------------------------------------------
# Printed locations name their setting, never the machine's own folders


def test_shown_path_names_the_setting_a_location_lives_under(monkeypatch, tmp_path):
    from course_lib.runtime.config import (
        CACHE_DIR_ENV,
        CHECKPOINT_DIR_ENV,
        DATA_DIR_ENV,
        TORCH_HOME_ENV,
        shown_path,
    )

    data, cache = tmp_path / "data", tmp_path / "data" / "cache"
    for name in (DATA_DIR_ENV, CACHE_DIR_ENV, CHECKPOINT_DIR_ENV, TORCH_HOME_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(DATA_DIR_ENV, str(data))
    assert shown_path(data / "MNIST" / "raw") == "$COURSE_DATA_DIR/MNIST/raw"
    assert shown_path(data) == "$COURSE_DATA_DIR"
    assert shown_path(cache / "judge.pt") == "$COURSE_DATA_DIR/cache/judge.pt"
    monkeypatch.setenv(CACHE_DIR_ENV, str(cache))  # the more specific setting wins
    assert shown_path(cache / "judge.pt") == "$COURSE_CACHE_DIR/judge.pt"
    monkeypatch.setenv(TORCH_HOME_ENV, str(tmp_path / "torch"))
    assert shown_path(tmp_path / "torch" / "hub" / "w.pth") == "$TORCH_HOME/hub/w.pth"
    # Without a setting: relative to the repository, else to the home folder, else as given.
    monkeypatch.delenv(DATA_DIR_ENV)
    assert shown_path(REPO / ".cache" / "judge.pt") == ".cache/judge.pt"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert shown_path(tmp_path / "home" / ".cache" / "x") == "~/.cache/x"
    assert shown_path("/elsewhere/file") == "/elsewhere/file"
