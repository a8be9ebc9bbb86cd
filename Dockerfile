# syntax=docker/dockerfile:1
#
# graphql-api production image.
#
#   build stage:   uv installs the hash-pinned requirements/prod.lock (runtime
#                  dependencies only, no dev tools) into /opt/venv, then the app
#                  itself as a regular wheel (which carries the migrations).
#   runtime stage: the same base image, the venv copied in, an unprivileged user.
#
# There is no Docker engine on the build machines: this file is checked by
# review only. docs/deployment.md explains every choice made here.
#
#   docker build -t graphql-api .
#   docker run --rm -e DATABASE_URL=... -e JWT_SECRET=... graphql-api graphql-api migrate
#   docker run -d -p 8000:8000 -e DATABASE_URL=... -e REDIS_URL=... -e JWT_SECRET=... graphql-api

# Both stages must use the same image: the venv's interpreter is a symlink to
# the base image's /usr/local/bin/python3.11.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# The uv release that generated requirements/*.lock (`make lock`).
ARG UV_VERSION=0.13.9
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never
RUN python -m pip install "uv==${UV_VERSION}"
WORKDIR /src
# Dependencies first, so that a code change does not invalidate this layer.
# --require-hashes: every distribution must match a hash recorded in the lock.
COPY requirements/prod.lock requirements/prod.lock
RUN uv venv --python /usr/local/bin/python3.11 /opt/venv \
 && uv pip sync --require-hashes --python /opt/venv/bin/python requirements/prod.lock
COPY pyproject.toml README.md ./
COPY graphql_api graphql_api
COPY migrations migrations
# A regular (non-editable) install, without dependencies (they are all in the
# lock): the wheel carries migrations/ as graphql_api/_migrations. The check
# runs from / so that it imports the installed package, not the source tree.
RUN uv pip install --python /opt/venv/bin/python --no-deps . \
 && cd / \
 && /opt/venv/bin/python -c "from graphql_api.db.migrations import migrations_directory as m; assert '/opt/venv/' in str(m()), m()" \
 && /opt/venv/bin/graphql-api --help > /dev/null

FROM ${PYTHON_IMAGE} AS runtime
ARG APP_UID=10001
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONFAULTHANDLER=1 \
    APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
# A fixed, numeric, unprivileged uid/gid (Kubernetes' runAsNonRoot can verify it)
# with no login shell. /app is its home and the working directory.
RUN groupadd --gid "${APP_UID}" app \
 && useradd --uid "${APP_UID}" --gid app --home-dir /app --create-home \
        --shell /usr/sbin/nologin --no-log-init app \
 && install -d -o app -g app -m 0700 /tmp/prometheus
COPY --from=build /opt/venv /opt/venv
COPY deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint
RUN chmod 0755 /usr/local/bin/docker-entrypoint
WORKDIR /app
USER ${APP_UID}:${APP_UID}
EXPOSE 8000
# uvicorn drains in-flight requests and closes websockets (1001) on SIGTERM;
# give the container more time than that before SIGKILL (docs/deployment.md).
STOPSIGNAL SIGTERM
# Liveness only (/healthz checks no dependency). Slim images have no curl: use
# python's urllib, bypassing any HTTP(S)_PROXY from the environment.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]
# The entrypoint (re)creates an empty PROMETHEUS_MULTIPROC_DIR, then runs the
# command. Other commands run the same way, for example:
#   docker run --rm ... graphql-api graphql-api migrate
#   docker run --rm ... graphql-api graphql-api create-user --email ... --role ADMIN
ENTRYPOINT ["docker-entrypoint"]
# Shell form (through sh -c) so that WORKERS is read at start; `exec` makes
# graphql-api replace the shell and receive SIGTERM itself.
CMD ["sh", "-c", "exec graphql-api serve --no-migrate --workers \"${WORKERS:-2}\""]
