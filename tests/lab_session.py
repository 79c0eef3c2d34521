"""JupyterLab as a student gets it, on a scratch copy of one notebook, for a browser to drive.

``lab_session`` starts ``jupyter lab`` with the settings ``make lab`` uses (``LAB_SETTINGS_ARGS``)
on a free port with a random token, in a scratch folder with its own HOME and Jupyter folders (so
nothing is read from or written to the user's), and stops it by its process id. The
``chromium_page`` fixture (tests/conftest.py) drives Debian's Chromium with ``CHROMIUM_ARGS``; it
skips, saying why, where Chromium or Playwright is missing. tests/test_lab_config.py checks that
the Makefile's lab target passes ``LAB_SETTINGS_ARGS``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAB_SETTINGS = ROOT / "lab"  # overrides.json: JupyterLab's defaults for the course
COURSE_KERNEL = (
    "python3"  # `make env` installs the venv's kernel under this name ("Python 3 (course)")
)
LAB_SETTINGS_ARGS = [
    f"--LabApp.app_settings_dir={LAB_SETTINGS}",
    f"--MappingKernelManager.default_kernel_name={COURSE_KERNEL}",
]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 15


@dataclass
class LabSession:
    base_url: str  # the server's root, ending in "/"
    token: str
    notebook: Path  # the scratch copy the server serves
    process: subprocess.Popen
    log: Path

    def url(self, path: str = "lab") -> str:
        return f"{self.base_url}{path}?token={self.token}"

    def notebook_url(self) -> str:
        return self.url(f"lab/tree/{quote(self.notebook.name)}")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_answering(session: LabSession) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if session.process.poll() is not None:
            raise RuntimeError(
                f"jupyter lab exited with {session.process.returncode} before answering:\n"
                f"{session.log_tail()}"
            )
        try:
            with urllib.request.urlopen(session.url("api/status"), timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"jupyter lab did not answer within {START_TIMEOUT_S} s:\n{session.log_tail()}"
            )
        time.sleep(0.3)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM lets the server shut its kernels down; kill its process group if it does not exit."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(
            process.pid, signal.SIGKILL
        )  # its own session (start_new_session), so only its group
        process.wait(STOP_TIMEOUT_S)


@contextmanager
def lab_session(notebook: Path, scratch: Path, profile: str = "smoke") -> Iterator[LabSession]:
    """A copy of ``notebook`` in ``scratch``, served by JupyterLab with the course's settings."""
    work, home = scratch / "work", scratch / "home"
    work.mkdir(parents=True)
    home.mkdir()
    copy = Path(shutil.copy2(notebook, work / notebook.name))
    env = dict(
        os.environ,
        COURSE_PROFILE=profile,
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
        JUPYTER_DATA_DIR=str(home / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(home / "jupyter-runtime"),
    )
    for name in (
        "JUPYTERLAB_SETTINGS_DIR",
        "JUPYTERLAB_WORKSPACES_DIR",
        "JUPYTER_PATH",
        "JUPYTER_CONFIG_PATH",
    ):
        env.pop(name, None)  # the caller's Jupyter folders would change what the student would see
    token, port = secrets.token_hex(16), free_port()
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={work}",
        *LAB_SETTINGS_ARGS,
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")  # containers often run as root; Jupyter refuses unless told
    log = scratch / "jupyter-lab.log"
    with log.open("w", encoding="utf-8") as log_file:
        process = subprocess.Popen(
            command,
            cwd=work,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    session = LabSession(f"http://127.0.0.1:{port}/", token, copy, process, log)
    try:
        _wait_until_answering(session)
        yield session
    finally:
        _stop(process)


def chromium_executable() -> str:
    """Debian's Chromium (not Playwright's own download); skips where there is none."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip(
            "chromium not installed; .ci/run installs it with apt (apt-get install -y chromium)"
        )
    return found
