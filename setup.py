"""Package layout only; everything else is in pyproject.toml.

The migrations stay at the top of the tree (`migrations/`, beside alembic.ini, where
`alembic revision` expects them) and ship inside the package as `service.migrations`,
so an installed `oneonone migrate` finds them from any directory. pyproject.toml
cannot map a subpackage to another folder while still discovering the others, so the
list is computed here: a new package under service/ needs no edit."""

from setuptools import find_namespace_packages, setup

setup(
    packages=[*find_namespace_packages(include=["service*"]), "service.migrations", "service.migrations.versions"],
    package_dir={"service.migrations": "migrations"},
)
