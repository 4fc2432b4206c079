"""One version everywhere, the licence pyproject.toml names, and a build without
setuptools warnings."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tomllib

from service import __version__
from service.api.app import create_app
from service.settings import Settings
from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# MD5 of the Apache License 2.0 text as the ASF publishes it (LICENSE-2.0.txt).
APACHE_2_0_MD5 = "3b83ef96387f14655fc854ddc3c6bd57"


def test_one_version():
    """pyproject.toml holds the only literal; the package, the API and the CLI report it."""
    version = PYPROJECT["project"]["version"]
    assert __version__ == version, "reinstall (`pip install -e .`): the installed metadata is stale"
    assert create_app(Settings(_env_file=None)).openapi()["info"]["version"] == version


def test_license_file_is_the_apache_license():
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    assert hashlib.md5((ROOT / "LICENSE").read_bytes()).hexdigest() == APACHE_2_0_MD5


def test_building_the_metadata_warns_of_nothing(tmp_path):
    """What pip runs first on `pip install .`: setuptools' PEP 517 metadata hook, every
    warning shown. (It rewrites the git-ignored oneonone.egg-info, as pip does.)"""
    out = subprocess.run(
        [
            sys.executable,
            "-W",
            "always",
            "-c",
            "import sys, setuptools.build_meta as b; print(b.prepare_metadata_for_build_wheel(sys.argv[1]))",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Warning" not in out.stderr + out.stdout, out.stderr
    metadata = (tmp_path / out.stdout.splitlines()[-1] / "METADATA").read_text()
    assert "License-Expression: Apache-2.0" in metadata
    assert f"Version: {PYPROJECT['project']['version']}" in metadata
