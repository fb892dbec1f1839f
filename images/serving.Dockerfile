# syntax=docker/dockerfile:1
# yardarm/serving:dev -- the model server only (ONNX Runtime + uvicorn; no scikit-learn).
#
# Build with Docker from the repository root:
#   docker build -f images/serving.Dockerfile -t yardarm/serving:dev .
# Without Docker (what CI and hack/cluster.py use), hack/images.py follows the same
# steps offline: a debootstrap'd bookworm minbase root filesystem with Debian's
# python3 (3.11) + python3-venv + ca-certificates, a venv in /opt/venv, pip serve
# extras, user nonroot (65532), packed as a docker-archive and imported into
# containerd:   python hack/images.py build serving
#
# The base is pinned to the dated bookworm snapshot matching the Debian mirror used
# by the offline build (2025-05-20).
ARG BASE=debian:bookworm-20250520-slim

FROM ${BASE} AS base
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*

FROM base AS wheel
COPY . /src
RUN python3 -m venv /tmp/build-venv \
 && /tmp/build-venv/bin/pip install --no-cache-dir pip==26.3 \
 && /tmp/build-venv/bin/pip wheel --no-cache-dir --no-deps -w /dist /src

FROM base
COPY --from=wheel /dist/ /tmp/dist/
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check pip==26.3 \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check "$(ls /tmp/dist/*.whl)[serve]" \
 && rm -rf /tmp/dist
RUN groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --home-dir /home/nonroot --create-home --shell /usr/sbin/nologin nonroot
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/nonroot
USER 65532:65532
WORKDIR /home/nonroot
# The ModelDeployment sets the command (yardarm-serve).
CMD ["python3"]
