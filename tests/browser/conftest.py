"""Headless Chromium (Debian's `chromium` + `chromium-driver`, driven by Selenium) against a
real `oneonone serve --sandbox` subprocess: the live demo org and its token. Chromium is
installed here when missing (apt-get, as root); the tests are skipped, saying why, only
where that is impossible. Screenshots go to tests/browser/artifacts/ (git-ignored)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).with_name("artifacts")
START_SECONDS = 60


def _ensure_chromium() -> None:
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=900,
            check=False,
            env=os.environ | {"DEBIAN_FRONTEND": "noninteractive"},
        )
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip(
            "browser tests need Debian's chromium and chromium-driver: `apt-get install chromium chromium-driver`"
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def sandbox_server(tmp_path_factory):
    """(url, token) of a `serve --sandbox` subprocess on a free port, its own directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEONONE_")}
    env |= {"ONEONONE_SYNC__POLL_MINUTES": "600", "ONEONONE_LOG_LEVEL": "WARNING"}
    where = tmp_path_factory.mktemp("browser-sandbox")
    argv = [sys.executable, "-m", "service.cli", "serve", "--sandbox", "--host", "127.0.0.1"]
    argv += ["--port", str(_free_port()), "--sandbox-dir", str(where)]
    proc = subprocess.Popen(argv, cwd=where, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + START_SECONDS
    try:
        while len(lines) < 2:  # URL=, TOKEN=
            line = proc.stdout.readline()
            assert line, "serve --sandbox ended early"
            lines.append(line.strip())
            assert time.monotonic() < deadline, "serve --sandbox did not start in time"
        yield lines[0].removeprefix("URL="), lines[1].removeprefix("TOKEN=")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def browser():
    _ensure_chromium()
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is in the test extras: pip install -e '.[test]'"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(
        options=options, service=webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    )
    driver.set_script_timeout(10)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
