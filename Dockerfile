# syntax=docker/dockerfile:1
#
# slack-chatops: the Cloudforet notification protocol plugin for Slack.
#
#   docker build -t cloudforet/plugin-slack-chatops-protocol:0.1.0 .
#   docker run --rm -p 50051:50051 -p 8080:8080 -v chatops-data:/data \
#       cloudforet/plugin-slack-chatops-protocol:0.1.0
#
# Cloudforet's supervisor starts the image's default command with no arguments and
# probes TCP 50051, so the default command below must stay `slack-chatops serve`.
# Needs BuildKit (the default builder since Docker 23) for the RUN --mount below.

# ---------------------------------------------------------------------------
# builder: the wheels requirements.lock pins (hash-checked), and the project's.
# ---------------------------------------------------------------------------
FROM python:3.11.13-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src

# README* is a wildcard so the build works whether or not the readme exists yet.
COPY requirements.lock pyproject.toml README* ./
COPY bot ./bot

# The dependencies exactly as requirements.lock pins them (pip-compile --generate-hashes; tests/deploy checks it is
# in step with pyproject.toml): every file checked against its hashes, nothing resolved here. Then the project's
# own wheel, without its dependencies.
RUN pip wheel --no-cache-dir --require-hashes --only-binary=:all: --wheel-dir /wheels -r requirements.lock \
    && pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && cp requirements.lock /wheels/

# ---------------------------------------------------------------------------
# runtime: the wheels installed into a venv; no compilers, no pip cache, no root.
# ---------------------------------------------------------------------------
FROM python:3.11.13-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="plugin-slack-chatops-protocol" \
      org.opencontainers.image.description="Cloudforet notification protocol plugin for Slack (Block Kit cards, interactive buttons)" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    BOT_GRPC_PORT=50051 \
    BOT_HTTP_PORT=8080 \
    BOT_DATA_DIR=/data

# The wheels are bind-mounted from the builder, so they never become a layer here.
# The venv has no pip of its own: the base image's pip installs into it (--python).
# The lock's pins first, their hashes checked again; then the project with --no-deps (nothing resolved).
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m venv --without-pip /opt/venv \
    && pip --python /opt/venv/bin/python install --no-cache-dir --no-index \
        --find-links=/wheels --require-hashes -r /wheels/requirements.lock \
    && pip --python /opt/venv/bin/python install --no-cache-dir --no-index --no-deps \
        /wheels/slack_chatops-*.whl \
    && groupadd --system --gid 10001 chatops \
    && useradd --system --no-log-init --uid 10001 --gid 10001 \
        --home-dir /app --shell /usr/sbin/nologin chatops \
    && mkdir -p /app /data \
    && chown 10001:10001 /data \
    && chmod 0700 /data

WORKDIR /app

# The embedded SQLite store and the button key file live here: keep it on a volume.
VOLUME ["/data"]

# 50051: gRPC plugin API (Cloudforet). 8080: Slack interactivity and health over HTTP.
EXPOSE 50051 8080

USER 10001:10001

# Kubernetes uses its own probes; this is for plain Docker: is gRPC accepting connections?
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, socket; socket.create_connection(('127.0.0.1', int(os.environ.get('BOT_GRPC_PORT') or 50051)), timeout=3).close()"]

CMD ["slack-chatops", "serve"]
