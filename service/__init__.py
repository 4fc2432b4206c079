"""oneonone: keeps manager-employee 1:1s healthy."""

from __future__ import annotations


def _version() -> str:
    """The one version: pyproject.toml's, as installed (the API's OpenAPI document and
    `oneonone --version` report it). From a source tree that is not installed, read
    from pyproject.toml itself."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("oneonone")
    except PackageNotFoundError:
        import tomllib
        from pathlib import Path

        try:
            with (Path(__file__).resolve().parents[1] / "pyproject.toml").open("rb") as f:
                return tomllib.load(f)["project"]["version"]
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "0+unknown"


__version__ = _version()
