"""Reading the built book in a real browser, for the checks of both editions.

Headless Chromium two ways: ``browser`` dumps a page's DOM after its scripts ran (MathJax), and
``devtools`` drives one tab over the DevTools protocol (a websocket; websocket-client comes with
jupyter_server and is pinned in constraints.txt) to click as a mouse does and to save screenshots.
``serve`` publishes a folder on 127.0.0.1. The fixtures are module-scoped and registered in
conftest.py; the helpers read a page's HTML (links, math, the solutions' state).
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import subprocess
import tempfile
import threading
import time
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from bs4 import BeautifulSoup
from lab_session import CHROMIUM_ARGS, chromium_executable

from course_lib.authoring.book_editions import EDITIONS

PAGE_TIMEOUT_S = 120
VIRTUAL_TIME_MS = 20_000  # virtual time Chromium grants the page's scripts before dumping the DOM
CHROMIUM_FLAGS = ["--headless", *CHROMIUM_ARGS, "--disable-sync", "--disable-quic"]
# Raw TeX that MathJax should have replaced: \( \) \[ \] $$, or an inline $...$ holding TeX syntax.
RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\$[^$\n]*[\\^_][^$\n]*\$")
# Elements whose text is code or machinery, not prose a reader sees as typeset text.
NOT_PROSE = ["script", "style", "noscript", "template", "textarea", "pre", "code", "mjx-container"]


def soup(text: str) -> BeautifulSoup:
    return BeautifulSoup(text, "html.parser")


def pages(html: Path) -> list[str]:
    """Every page of the edition built in ``html``, relative to it: not the theme's assets
    (_static/ etc.) and not the other edition that lives in a folder below it (ko/)."""
    other_editions = {edition.folder for edition in EDITIONS.values() if edition.folder}
    return sorted(
        p.relative_to(html).as_posix()
        for p in html.rglob("*.html")
        if not p.relative_to(html).parts[0].startswith("_")
        and p.relative_to(html).parts[0] not in other_editions
    )


def is_local(url: str) -> bool:
    """A URL relative to the book (no scheme, not protocol-relative)."""
    return not urlsplit(url).scheme and not url.startswith("//")


def local_file(html: Path, page: str, url: str) -> Path:
    """The file a relative URL on `page` points to (query and fragment dropped)."""
    path = unquote(urlsplit(urljoin(page, url)).path)
    target = html / path.lstrip("/")
    return target / "index.html" if path.endswith("/") or target.is_dir() else target


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest's output readable
        pass


@pytest.fixture(scope="module")
def browser():
    """A function url -> DOM after scripts ran, using headless Chromium; skips if there is none."""
    chromium = chromium_executable()
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as profile:

        def dump_dom(url: str) -> str:
            cmd = [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={VIRTUAL_TIME_MS}",
                "--dump-dom",
                url,
            ]
            done = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=PAGE_TIMEOUT_S,
                env={**os.environ, "HOME": home},
            )
            assert done.returncode == 0 and done.stdout.strip(), (
                f"chromium failed on {url} (exit {done.returncode}):\n{done.stderr[-2000:]}"
            )
            return done.stdout

        yield dump_dom


@pytest.fixture(scope="module")
def serve():
    """Serve a folder on 127.0.0.1 (loopback only) and return its base URL."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        # A short poll interval: shutdown() waits up to one interval per server.
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def math_problems(dom: str) -> list[str]:
    """What is wrong with the math of a rendered page; [] when MathJax typeset all of it."""
    page = soup(dom)
    problems = []
    if page.find("mjx-merror") is not None:
        problems.append("MathJax reported a TeX error")
    untypeset = [el for el in page.select(".math") if el.find("mjx-container") is None]
    if untypeset:
        problems.append(
            f"{len(untypeset)} math elements not typeset, e.g. {untypeset[0].get_text()[:60]!r}"
        )
    for element in page.find_all(NOT_PROSE):
        element.decompose()
    raw = RAW_TEX.findall(page.get_text(" "))
    if raw:
        problems.append(f"raw TeX left in the visible text: {raw[:5]}")
    return problems


SOLUTIONS = "article .admonition.dropdown, article details"  # solution dropdowns, either markup
# For every dropdown: is any of its body (everything but the title) rendered with a size?
SOLUTION_STATE_JS = """[...document.querySelectorAll(%s)].map(el => {
  const body = [...el.children].filter(c => !c.matches('.admonition-title, summary'));
  const shown = c => c.checkVisibility({opacityProperty: true, visibilityProperty: true})
                     && c.getBoundingClientRect().height > 0;
  return body.length > 0 && body.some(shown);
})""" % json.dumps(SOLUTIONS)
VIEWPORT = (1280, 900)
SCREENSHOT_MAX_HEIGHT = (
    12_000  # px; a full notebook page is longer, its top part is enough to look at
)
# MathJax typeset, fonts and images loaded: what a reader sees once the page has settled.
SETTLED_JS = """Promise.all([
  window.MathJax && MathJax.startup ? MathJax.startup.promise : null,
  document.fonts.ready,
  ...[...document.images].map(img => img.complete
    ? null
    : new Promise(done => img.onload = img.onerror = done)),
]).then(() => true)"""


class DevTools:
    """One headless Chromium and its first tab, driven over the DevTools protocol."""

    def __init__(self, chromium: str, profile: str, home: str):
        import websocket  # websocket-client

        self.process = subprocess.Popen(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "HOME": home},
        )
        try:
            port_file, deadline = (
                Path(profile) / "DevToolsActivePort",
                time.monotonic() + PAGE_TIMEOUT_S,
            )
            while len(port_file.read_text().splitlines() if port_file.is_file() else []) < 2:
                assert self.process.poll() is None, (
                    f"chromium exited with {self.process.returncode}"
                )
                assert time.monotonic() < deadline, "chromium opened no DevTools port"
                time.sleep(0.05)
            port = int(port_file.read_text().split()[0])
            no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
            with no_proxy.open(f"http://127.0.0.1:{port}/json/list", timeout=30) as reply:
                tab = next(t for t in json.load(reply) if t["type"] == "page")
            self.socket = websocket.create_connection(
                tab["webSocketDebuggerUrl"],
                timeout=PAGE_TIMEOUT_S,
                suppress_origin=True,
                http_no_proxy=["127.0.0.1"],
            )
        except BaseException:
            self.process.kill()
            self.process.wait()
            raise
        self.last_id = 0
        self.set_viewport_height(VIEWPORT[1])

    def send(self, method: str, **params):
        """Call a protocol method and return its result
        (events that arrive meanwhile are dropped)."""
        self.last_id += 1
        self.socket.send(json.dumps({"id": self.last_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.socket.recv())
            if reply.get("id") == self.last_id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply["result"]

    def evaluate(self, expression: str, await_promise: bool = False):
        result = self.send(
            "Runtime.evaluate",
            expression=expression,
            returnByValue=True,
            awaitPromise=await_promise,
        )
        assert "exceptionDetails" not in result, f"{expression[:80]}: {result['exceptionDetails']}"
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = PAGE_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            assert time.monotonic() < deadline, f"waited {timeout} s for {expression}"
            time.sleep(0.05)

    def open(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.wait_for(f"document.readyState === 'complete' && location.href === {json.dumps(url)}")

    def follow(self, selector: str, url: str) -> None:
        """Click the first element that matches (a link) and wait until ``url`` has loaded."""
        self.click(selector)
        deadline = time.monotonic() + PAGE_TIMEOUT_S
        loaded = f"location.href === {json.dumps(url)} && document.readyState === 'complete'"
        while True:
            try:
                if self.evaluate(loaded):
                    return
            except AssertionError:  # the page went away while it was asked
                pass
            assert time.monotonic() < deadline, f"a click on {selector} did not open {url}"
            time.sleep(0.05)

    def click(self, selector: str) -> None:
        """Press and release the left mouse button on the first element that matches."""
        x, y = self.evaluate(f"""(() => {{
            const el = document.querySelector({json.dumps(selector)});
            el.scrollIntoView({{block: 'center'}});
            const box = el.getBoundingClientRect();
            return [box.left + Math.min(20, box.width / 2), box.top + box.height / 2];
        }})()""")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def pointer(self, selector: str, points: list[tuple[float, float]]) -> None:
        """Press the left mouse button at the first point of the first element that matches,
        move through the others and release at the last; points are fractions of its box."""
        box = self.evaluate(f"""(() => {{
            const el = document.querySelector({json.dumps(selector)});
            el.scrollIntoView({{block: 'center'}});
            const b = el.getBoundingClientRect();
            return [b.left, b.top, b.width, b.height];
        }})()""")
        xy = [(box[0] + fx * box[2], box[1] + fy * box[3]) for fx, fy in points]
        events = [("mousePressed", xy[0])] + [("mouseMoved", p) for p in xy[1:]]
        for kind, (x, y) in events + [("mouseReleased", xy[-1])]:
            self.send(
                "Input.dispatchMouseEvent",
                type=kind,
                x=x,
                y=y,
                button="left",
                buttons=0 if kind == "mouseReleased" else 1,
                clickCount=1,
            )

    def set_viewport_height(self, height: int) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=VIEWPORT[0],
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def screenshot(self, path: Path, full_page: bool = True, selector: str | None = None) -> None:
        """Save a PNG of the page from its top (full_page), of what the viewport shows now, or of
        the first element matching ``selector``, cut from a viewport as tall as the page so that
        no sticky header lies over it."""
        if full_page or selector:
            self.evaluate("window.scrollTo(0, 0)")
            height = self.evaluate("document.documentElement.scrollHeight")
            self.set_viewport_height(height if selector else min(height, SCREENSHOT_MAX_HEIGHT))
            self.evaluate(
                "new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))",
                True,
            )
        try:
            options = {}
            if selector:
                x, y, width, height = self.evaluate(f"""(() => {{
                    const b = document.querySelector({json.dumps(selector)})
                        .getBoundingClientRect();
                    return [b.left, b.top, b.width, b.height];
                }})()""")
                options["clip"] = dict(x=x, y=y, width=width, height=height, scale=1)
            png = self.send("Page.captureScreenshot", format="png", **options)["data"]
        finally:
            self.set_viewport_height(VIEWPORT[1])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(png))

    def close(self) -> None:
        self.socket.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def devtools():
    chromium = chromium_executable()
    pytest.importorskip(
        "websocket", reason="websocket-client (installed with jupyter_server) is missing"
    )
    # Chromium's helper processes may still write into the profile while it is removed: a folder
    # left behind in /tmp is no test failure.
    with (
        tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as home,
        tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile,
    ):
        tab = DevTools(chromium, profile, home)
        try:
            yield tab
        finally:
            tab.close()


def screenshot_settled_page(devtools: DevTools, url: str, path: Path) -> None:
    """Save a full-page screenshot of ``url`` once MathJax, fonts and images have settled, and
    check that it is as wide as the viewport and not blank."""
    from PIL import Image

    devtools.open(url)
    assert devtools.evaluate(SETTLED_JS, await_promise=True)
    devtools.screenshot(path)
    with Image.open(path) as image:
        assert image.width == VIEWPORT[0] and image.height >= VIEWPORT[1], (path, image.size)
        darkest, lightest = image.convert("L").getextrema()
        assert lightest - darkest > 100, f"{path} is blank"
