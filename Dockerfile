# Production image: API (`serve`) and workers (`worker`) from one image.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY service ./service
COPY migrations ./migrations
RUN pip install . && useradd --system --uid 10001 oneonone
USER oneonone
ENV ONEONONE_LOG_JSON=true
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz')" || exit 1
# Run `oneonone migrate` once per deploy (e.g. an init container), then:
CMD ["oneonone", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-migrate"]
