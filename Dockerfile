# syntax=docker/dockerfile:1
# One image for every role: `serve` (the default: the JSON API), `worker`, and the
# one-shot `migrate` (run it once per deploy, before the new API and workers start):
#   docker run IMAGE migrate | docker run IMAGE worker | docker run IMAGE
# Dependencies come from requirements.lock only (exact versions, hashes checked);
# `make lock` regenerates it after a change to pyproject.toml's dependencies.
# tests/test_image.py lints this file (hadolint) and builds the virtualenv as below.

# The base, pinned to an exact release; the lock is resolved for its Python (3.11).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# -- build: a virtualenv in /opt/venv, copied whole into the runtime stage ---------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# The dependencies first, in a layer of their own that a code change does not rebuild.
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --require-hashes -r requirements.lock
COPY pyproject.toml setup.py README.md ./
COPY service ./service
COPY migrations ./migrations
# Built with the locked setuptools and wheel (no download), then both removed: nothing
# at run time needs them.
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation . \
    && /opt/venv/bin/pip uninstall --yes setuptools wheel

# -- runtime ------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ONEONONE_LOG_JSON=true \
    ONEONONE_API__HOST=0.0.0.0 \
    ONEONONE_API__PORT=8000 \
    ONEONONE_WORKER__HTTP_HOST=0.0.0.0 \
    ONEONONE_WORKER__HTTP_PORT=9100 \
    ONEONONE_DATABASE_URL=sqlite+aiosqlite:////data/oneonone.db
# A non-root user owning /data, the only writable place (the default SQLite database).
RUN groupadd --system --gid 10001 oneonone \
    && useradd --system --uid 10001 --gid oneonone --home-dir /data --no-create-home oneonone \
    && mkdir /data && chown oneonone:oneonone /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
# The API; a worker's /healthz, /readyz and /metrics.
EXPOSE 8000 9100
# Role-aware: the API's /readyz on ONEONONE_API__PORT, a worker's own health port, nothing
# for migrate (see `oneonone healthcheck --help`).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["oneonone", "healthcheck"]
ENTRYPOINT ["oneonone"]
CMD ["serve", "--no-migrate"]
