# syntax=docker/dockerfile:1
# yardarm/objectstore:dev -- the embedded S3 server of local clusters and the demo (versitygw,
# posix backend), deployed by the chart with objectStore.embedded.enabled=true.
#
# Build with Docker from the repository root:
#   docker build -f images/objectstore.Dockerfile -t yardarm/objectstore:dev .
# Without Docker (what CI, hack/cluster.py and hack/demo.py use), hack/images.py follows the same
# steps offline: versitygw from the Go module proxy (hack/s3/install.sh), the entrypoint below
# compiled statically, both packed as a one-layer docker-archive:
#   python hack/images.py build objectstore
#
# The entrypoint creates the buckets named in YARDARM_BUCKETS as directories under /data (the
# posix backend serves top-level directories as buckets) and then becomes versitygw. Root
# credentials come from ROOT_ACCESS_KEY_ID / ROOT_SECRET_ACCESS_KEY (the chart maps a Secret).
ARG GO=golang:1.26-bookworm
ARG VERSITYGW_VERSION=v1.8.0

FROM ${GO} AS build
ARG VERSITYGW_VERSION
ENV CGO_ENABLED=0
RUN GOBIN=/out go install -trimpath "github.com/versity/versitygw/cmd/versitygw@${VERSITYGW_VERSION}"
# The same entrypoint source hack/images.py compiles (OBJECTSTORE_GO there).
COPY hack/images.py /src/images.py
RUN mkdir -p /src/entry && cd /src/entry \
 && python3 -c "import importlib.util as u; s=u.spec_from_file_location('i','/src/images.py'); m=u.module_from_spec(s); s.loader.exec_module(m); open('main.go','w').write(m.OBJECTSTORE_GO)" \
 && printf 'module yardarm.local/objectstore\n\ngo 1.22\n' > go.mod \
 && go build -trimpath -ldflags '-s -w' -o /out/entrypoint . \
 && mkdir -p /out/data /out/meta /out/tmp

FROM scratch
COPY --from=build --chown=65532:65532 /out/ /
USER 65532:65532
EXPOSE 7070
ENTRYPOINT ["/entrypoint"]
CMD ["--port", ":7070", "--health", "/health", "posix", "--sidecar", "/meta", "/data"]
