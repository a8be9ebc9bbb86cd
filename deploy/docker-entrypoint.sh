#!/bin/sh
# Entrypoint of the graphql-api image (see Dockerfile and docs/deployment.md).
#
# prometheus-client's multi-process mode keeps each worker's metrics in files
# under PROMETHEUS_MULTIPROC_DIR; files left by an earlier run (a restarted
# container keeps its /tmp) would be added to the new run's values, so the
# directory is emptied before anything starts. Then the command runs in place
# of this shell (exec), so that it receives the stop signal itself.
set -eu

if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -delete
fi

if [ "$#" -eq 0 ]; then
    set -- sh -c 'exec graphql-api serve --no-migrate --workers "${WORKERS:-2}"'
fi

exec "$@"
