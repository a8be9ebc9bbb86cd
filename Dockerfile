# syntax=docker/dockerfile:1
# Multi-stage image: dependencies are installed with uv from the hash-pinned lock
# (no dev tools), the app runs as an unprivileged user. There is no Docker engine on
# the build machines, so this file is checked by review; see docs/deployment.md.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
RUN python -m pip install --no-cache-dir uv
WORKDIR /src
# Dependencies first, so code changes do not invalidate this layer.
COPY requirements/prod.lock requirements/prod.lock
RUN uv venv /opt/venv \
 && uv pip sync --python /opt/venv/bin/python requirements/prod.lock
COPY pyproject.toml README.md alembic.ini ./
COPY graphql_api graphql_api
COPY migrations migrations
# A regular (non-editable) install: the wheel carries the migrations with it.
RUN uv pip install --python /opt/venv/bin/python --no-deps .

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000
RUN groupadd --system app && useradd --system --gid app --home-dir /app --create-home app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER app
EXPOSE 8000
# `graphql-api migrate` is a separate, one-shot command (run it before rolling out);
# `serve` also upgrades to head at start, which is a no-op when already migrated.
CMD ["graphql-api", "serve"]
