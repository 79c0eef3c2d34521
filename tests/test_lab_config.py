"""`make lab`'s JupyterLab settings: kept in lab/, passed by the Makefile, served, never written to.

No browser: the Makefile is run with a stand-in ``jupyter`` that records how it was called, and a
real JupyterLab server (tests/lab_session.py) is asked over its REST API what it serves.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import jsonschema
import nbformat
import pytest
from jupyter_core.paths import jupyter_path
from jupyterlab.commands import get_app_dir
from lab_session import COURSE_KERNEL, LAB_SETTINGS, LAB_SETTINGS_ARGS, ROOT, lab_session

OVERRIDES = LAB_SETTINGS / "overrides.json"
NOTIFICATION = "@jupyterlab/apputils-extension:notification"


def overrides() -> dict:
    return json.loads(OVERRIDES.read_text(encoding="utf-8"))


def plugin_schema(plugin_id: str) -> dict:
    """A JupyterLab plugin's settings schema: core ones in the app folder, extensions' beside."""
    package, plugin = plugin_id.split(":")
    candidates = [Path(get_app_dir()) / "schemas" / package / f"{plugin}.json"]
    candidates += [
        Path(folder) / package / "schemas" / package / f"{plugin}.json"
        for folder in jupyter_path("labextensions")
    ]
    for candidate in candidates:
        if candidate.is_file():
            return json.loads(candidate.read_text(encoding="utf-8"))
    raise AssertionError(
        f"{OVERRIDES.name} names {plugin_id!r}, which no installed JupyterLab plugin defines"
    )


def test_overrides_turn_off_news_and_update_checks():
    notification = overrides()[NOTIFICATION]
    assert (
        notification["fetchNews"] == "false"
    )  # a string: "true", "false", or "none" (ask with a pop-up)
    assert notification["checkForUpdates"] is False


def test_overrides_name_real_settings_with_valid_values():
    for plugin_id, values in overrides().items():
        schema = plugin_schema(plugin_id)
        unknown = sorted(set(values) - set(schema["properties"]))
        assert not unknown, f"{plugin_id} has no settings {unknown}; see its schema for the names"
        jsonschema.validate(values, schema)


def test_venv_app_settings_hold_nothing_that_make_lab_would_hide():
    """make lab reads lab/, not the venv's app settings folder: anything there would be ignored."""
    venv_settings = Path(get_app_dir()) / "settings"
    hidden = [
        name
        for name in ("overrides.json", "overrides.json5", "overrides.d", "page_config.json")
        if (venv_settings / name).exists()
    ]
    assert not hidden, (
        f"{venv_settings} holds {hidden}, which make lab ignores (it reads {LAB_SETTINGS}): "
        "move those settings into lab/overrides.json, or delete them"
    )


def test_make_lab_passes_the_settings_and_no_profile(tmp_path):
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    record = tmp_path / "jupyter-call.txt"
    fake_jupyter = venv / "bin" / "jupyter"  # records its COURSE_PROFILE and arguments, one a line
    fake_jupyter.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "${{COURSE_PROFILE-unset}}" "$@" > "{record}"\n'
    )
    fake_jupyter.chmod(0o755)
    stamp = venv / ".installed"
    stamp.touch()
    done = subprocess.run(
        [
            make,
            "--no-print-directory",
            "-o",
            str(stamp),
            "lab",
            f"VENV={venv}",
        ],  # -o: never rebuild the env
        cwd=ROOT,
        env={**os.environ, "COURSE_PROFILE": "smoke"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    profile, *arguments = record.read_text(encoding="utf-8").splitlines()
    assert profile == "", (
        f"make lab passed COURSE_PROFILE={profile!r}; it must be empty so course_lib picks cpu or "
        "gpu"
    )
    assert arguments[0] == "lab"
    missing = [argument for argument in LAB_SETTINGS_ARGS if argument not in arguments]
    assert not missing, (
        f"make lab does not pass {missing}; tests/lab_session.py and the Makefile must agree"
    )
    assert arguments[-1] == "notebooks"


def get_json(session, path: str) -> dict:
    with urllib.request.urlopen(session.url(path), timeout=30) as answer:
        return json.load(answer)


def put_json(session, path: str, body: dict) -> None:
    request = urllib.request.Request(
        session.url(path),
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30):
        pass


def test_lab_server_serves_the_course_settings_and_keeps_user_changes_out_of_git(tmp_path):
    notebook = tmp_path / "empty.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), notebook)
    repository_settings = {path.name: path.read_bytes() for path in LAB_SETTINGS.iterdir()}
    with lab_session(notebook, tmp_path / "scratch") as session:
        kernels = get_json(session, "api/kernelspecs")
        assert kernels["default"] == COURSE_KERNEL
        assert (
            kernels["kernelspecs"][COURSE_KERNEL]["spec"]["display_name"] == "Python 3 (course)"
        ), "the venv's python3 kernel is not the course's; run `make env`"

        notification = get_json(session, f"lab/api/settings/{NOTIFICATION}")
        defaults = {
            name: value["default"] for name, value in notification["schema"]["properties"].items()
        }
        assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False, (
            f"the server does not apply {OVERRIDES}: {defaults}"
        )

        # A student turning news on in Settings: the change lands in the user's folder, not in lab/.
        put_json(session, f"lab/api/settings/{NOTIFICATION}", {"raw": '{"fetchNews": "true"}'})
        user_files = list((tmp_path / "scratch" / "home").rglob("notification.jupyterlab-settings"))
        assert user_files, "the user's change was not saved in the user's settings folder"
    assert session.process.poll() is not None, "the server is still running after the session"
    assert {
        path.name: path.read_bytes() for path in LAB_SETTINGS.iterdir()
    } == repository_settings, "JupyterLab wrote into lab/ in the repository"


def test_make_env_keeps_nbgraders_validate_button_and_turns_off_its_instructor_tools():
    """nbgrader's formgrader and exchange lists need a course setup that `make lab` lacks."""
    venv = ROOT / ".venv"
    page_config = json.loads(
        (venv / "etc" / "jupyter" / "labconfig" / "page_config.json").read_text(encoding="utf-8")
    )
    disabled = {name for name, off in page_config["disabledExtensions"].items() if off}
    for plugin in ("menu", "create-assignment", "course-list", "assignment-list"):
        assert f"@jupyter/nbgrader:{plugin}" in disabled
    assert "@jupyter/nbgrader:validate-assignment" not in disabled
    listing = subprocess.run(
        [str(venv / "bin" / "jupyter"), "server", "extension", "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    states = dict(
        re.findall(
            r"nbgrader\.server_extensions\.(\w+) \S*(enabled|disabled)",
            listing.stderr + listing.stdout,
        )
    )
    assert states == {
        "formgrader": "disabled",
        "validate_assignment": "enabled",
        "assignment_list": "disabled",
        "course_list": "disabled",
    }
