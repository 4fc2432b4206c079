"""The container image and the compose stack, tested without a container engine.

- The Dockerfile is lint-clean (hadolint), multi-stage on an exactly pinned base,
  installs dependencies only from requirements.lock with hashes, runs as non-root,
  health-checks in exec form with `oneonone healthcheck`, and enters through `oneonone`.
- requirements.lock pins, with hashes, every distribution the runtime dependencies in
  pyproject.toml need (walked through the installed metadata, extras included), at
  versions those requirements allow, and the build backend the image builds with.
- compose.yaml: PostgreSQL with a health check, a one-shot migrate the API and the two
  workers wait for, health checks per role, settings from .env.
- The virtualenv built the way the Dockerfile builds it (the build stage's COPY lines,
  then its pip commands, into a fresh venv) holds the migrations and runs every role,
  from a directory with no source tree, against a new SQLite file: `migrate`, `serve`
  (→ `oneonone healthcheck` and /readyz 200), `worker` (starts, stops on SIGTERM).
  This is the one test that downloads (the locked wheels from the package index, about
  15 s); it is marked slow.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from importlib import metadata
from pathlib import Path

import httpx
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from service.cli import build_parser
from tests.conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
BIN = Path(sys.executable).parent


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", re.sub(r"^\s*#.*\n", "", DOCKERFILE, flags=re.M))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines() if line.strip()]


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction, args in _instructions():
        if instruction == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction, args))
    return stages


def _lock() -> dict[str, tuple[str, list[str]]]:
    """requirements.lock as {name: (version, hashes)}."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "requirements.lock").read_text())
    entries = {}
    for line in text.splitlines():
        if m := re.match(r"^([A-Za-z0-9._-]+)==(\S+)(.*)$", line):
            entries[canonicalize_name(m[1])] = (m[2], re.findall(r"--hash=sha256:([0-9a-f]{64})", m[3]))
    return entries


# -- Dockerfile ----------------------------------------------------------------------------------
def test_dockerfile_is_hadolint_clean():
    run = subprocess.run([str(BIN / "hadolint"), "Dockerfile"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout == "", run.stdout + run.stderr


def test_dockerfile_is_multi_stage_pinned_locked_non_root_and_role_aware():
    args = dict(a.split("=", 1) for i, a in _instructions() if i == "ARG" and "=" in a)
    base = args["PYTHON_IMAGE"]
    # An exact release (python:3.11.N-slim-bookworm) or a digest, never a moving tag.
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
    lock_python = re.search(r"with Python (\d+\.\d+)", (ROOT / "requirements.lock").read_text())[1]
    assert base.startswith(f"python:{lock_python}."), "the lock is resolved for the base image's Python"

    build, runtime = _stages()
    assert build[0] == ("FROM", "${PYTHON_IMAGE} AS build") and runtime[0] == ("FROM", "${PYTHON_IMAGE}")
    runs = [a for i, a in build if i == "RUN"]
    assert any("--require-hashes -r requirements.lock" in r and "--no-deps" in r for r in runs)
    assert any("--no-deps --no-build-isolation ." in r for r in runs)  # built with the locked setuptools
    assert not any(re.search(r"pip install(?!.*(-r requirements\.lock|--no-build-isolation \.))", r) for r in runs)
    assert ("COPY", "--from=build /opt/venv /opt/venv") in runtime

    final = dict(runtime)  # the last of each instruction
    assert final["USER"].split(":")[0] not in ("root", "0")
    assert "ONEONONE_DATABASE_URL=sqlite+aiosqlite:////data/oneonone.db" in " ".join(
        a for i, a in runtime if i == "ENV"
    )
    assert any("chown oneonone:oneonone /data" in a for i, a in runtime if i == "RUN")
    assert final["WORKDIR"] == "/data"
    assert final["HEALTHCHECK"].endswith('CMD ["oneonone", "healthcheck"]')  # exec form, role-aware
    assert final["ENTRYPOINT"] == '["oneonone"]' and final["CMD"] == '["serve", "--no-migrate"]'
    for command in (["serve", "--no-migrate"], ["worker"], ["migrate"], ["healthcheck"]):
        build_parser().parse_args(command)  # each is a real command
    # Secrets and the development venv stay out of the build context.
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".env", ".oneonone"} <= set(ignored)


# -- requirements.lock ---------------------------------------------------------------------------
def _closure(requirements: list[Requirement]) -> dict[str, list[Requirement]]:
    """Every distribution `requirements` need on this platform, through the installed
    metadata: {name: [the requirements naming it]}."""
    needed: dict[str, list[Requirement]] = {}
    todo = [(r, "") for r in requirements]
    seen: set[tuple[str, str]] = set()
    while todo:
        req, extra = todo.pop()
        if req.marker and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        needed.setdefault(name, []).append(req)
        for wanted in ["", *sorted(req.extras)]:
            if (name, wanted) in seen:
                continue
            seen.add((name, wanted))
            for sub in metadata.distribution(name).requires or []:
                todo.append((Requirement(sub), wanted))
    return needed


def test_the_lock_pins_every_runtime_dependency_with_hashes():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lock = _lock()
    assert all(hashes for _, hashes in lock.values()), "every pin has its hashes (--require-hashes)"
    runtime = [Requirement(r) for r in pyproject["project"]["dependencies"]]
    build = [Requirement(r) for r in pyproject["build-system"]["requires"]]
    for name, requirements in _closure(runtime).items():
        assert name in lock, f"{name} is needed at run time but not in requirements.lock: run `make lock`"
        for req in requirements:
            assert req.specifier.contains(lock[name][0], prereleases=True), f"{req} but the lock has {lock[name][0]}"
    for req in build:
        assert req.specifier.contains(lock[canonicalize_name(req.name)][0]), f"build: {req}"


# -- compose.yaml --------------------------------------------------------------------------------
def test_compose_runs_postgres_a_one_shot_migrate_the_api_and_two_workers():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", "api", "worker"}

    pg = services["postgres"]
    assert pg["image"].startswith("postgres:") and re.search(r":\d+\.\d+", pg["image"])  # pinned
    assert "pg_isready" in pg["healthcheck"]["test"]

    ours = {name: s for name, s in services.items() if name != "postgres"}
    for name, s in ours.items():
        assert s["build"] == ".", name
        assert s["env_file"] == [{"path": ".env", "required": False}], name
        assert "@postgres:5432/" in s["environment"]["ONEONONE_DATABASE_URL"], name
        assert s["depends_on"]["postgres"] == {"condition": "service_healthy"}, name
        build_parser().parse_args(s["command"])  # a real `oneonone` command (the image's entrypoint)

    migrate = services["migrate"]
    assert migrate["command"] == ["migrate"] and migrate["restart"] == "no"
    assert migrate["healthcheck"] == {"disable": True}
    for name, role in (("api", "api"), ("worker", "worker")):
        s = services[name]
        assert s["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert s["healthcheck"]["test"] == ["CMD", "oneonone", "healthcheck", "--role", role]
    assert services["api"]["command"] == ["serve", "--no-migrate"]  # migrations are migrate's job
    assert services["worker"]["command"] == ["worker"] and services["worker"]["deploy"]["replicas"] == 2
    assert "pgdata" in compose["volumes"]


# -- the image's virtualenv, running ---------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _copy_build_context(dest: Path) -> None:
    """What the build stage COPYs, from the source tree into `dest` (its WORKDIR)."""
    for instruction, args in _stages()[0]:
        if instruction != "COPY":
            continue
        *sources, target = args.split()
        for source in sources:
            to = dest / target / source if target.endswith("/") else dest / target
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, to, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                to.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / source, to)


@pytest.mark.slow
def test_the_image_virtualenv_runs_every_role(tmp_path):
    src, venv, data = tmp_path / "src", tmp_path / "venv", tmp_path / "data"
    src.mkdir()
    data.mkdir()
    _copy_build_context(src)
    assert sorted(p.name for p in src.iterdir()) == [
        "README.md",
        "migrations",
        "pyproject.toml",
        "requirements.lock",
        "service",
        "setup.py",
    ]

    # The build stage's commands. `--no-compile` (the image compiles, here it only costs
    # time) and pip from this venv (`--python`) instead of the new venv's own are the only
    # differences; the wheels come from the package index, checked against the lock's hashes.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    pip = [str(BIN / "pip"), "--python", str(venv / "bin" / "python"), "--disable-pip-version-check"]
    quiet = dict(cwd=src, check=True, capture_output=True, text=True)
    subprocess.run(
        [*pip, "install", "--no-compile", "--no-deps", "--require-hashes", "-r", "requirements.lock"], **quiet
    )
    subprocess.run([*pip, "install", "--no-compile", "--no-deps", "--no-build-isolation", "."], **quiet)
    subprocess.run([*pip, "uninstall", "--yes", "setuptools", "wheel"], **quiet)
    shutil.rmtree(src)  # nothing may come from the source tree any more

    env = {
        "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(data),
        "ONEONONE_DATABASE_URL": f"sqlite+aiosqlite:///{data / 'oneonone.db'}",
        "ONEONONE_API__HOST": "127.0.0.1",
        "ONEONONE_API__PORT": str(_free_port()),
        "ONEONONE_LOG_JSON": "true",
    }
    oneonone = str(venv / "bin" / "oneonone")

    def run(*argv: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([oneonone, *argv], cwd=data, env=env, capture_output=True, text=True, **kwargs)

    where = subprocess.run(
        [venv / "bin" / "python", "-c", "import service.db.migrate as m; print(m.__file__); print(m.migrations_dir())"],
        cwd=data,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in where), where  # installed, not the checkout
    assert (Path(where[1]) / "versions" / "0001_initial_schema.py").is_file()

    env["ONEONONE_SECRET_KEY"] = run("keygen", check=True).stdout.strip()
    assert run("healthcheck", "--role", "api", "--timeout", "1").returncode == 1  # nothing serves yet

    migrated = run("migrate")
    assert migrated.returncode == 0, migrated.stderr

    def start(*argv: str) -> tuple[subprocess.Popen, Path]:
        log = tmp_path / f"{argv[0]}.log"
        with log.open("w") as out:
            return subprocess.Popen([oneonone, *argv], cwd=data, env=env, stdout=out, stderr=out), log

    def stop(proc: subprocess.Popen) -> int:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    # uvicorn ends a graceful shutdown by re-raising the signal it caught (status -15).
    graceful = (0, -signal.SIGTERM)

    server, log = start("serve", "--no-migrate", "--no-worker")
    try:
        deadline = time.monotonic() + 30
        while (probe := run("healthcheck", "--role", "api")).returncode != 0:
            assert server.poll() is None and time.monotonic() < deadline, probe.stderr + log.read_text()
            time.sleep(0.3)
        r = httpx.get(f"http://127.0.0.1:{env['ONEONONE_API__PORT']}/readyz")
        assert r.status_code == 200 and r.json() == {"status": "ok"}
    finally:
        assert stop(server) in graceful, log.read_text()
    assert "Application shutdown complete" in log.read_text()

    worker, log = start("worker")
    try:
        deadline = time.monotonic() + 30
        while '"worker_started"' not in log.read_text():
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        assert stop(worker) == 0, log.read_text()
    assert '"worker_stopped"' in log.read_text()
