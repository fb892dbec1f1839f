"""``yardarm-serve``: verify a bundle, then serve it over HTTP with uvicorn (uvloop + httptools).

``yardarm-serve fetch …`` instead copies an ``s3://`` bundle into the pod first (:mod:`.fetch`).

The bundle's digest is checked before the port opens, so a wrong or tampered bundle exits non-zero
at once (the pod crash-loops with a clear log line). The ONNX Runtime session is then built and
warmed up in the background while liveness already answers; readiness turns 200 only after that.
SIGTERM stops accepting connections, lets in-flight requests finish (up to
``--graceful-timeout``) and exits 0.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
from pathlib import Path

import uvicorn

from yardarm.bundle import BundleError, read_bundle, sha256_bytes

from .app import ServeConfig, ServingApp
from .cgroup import intra_op_threads
from .http import ConnectionLimits, guarded_protocol
from .logs import UVICORN_LOG_CONFIG, log_event
from .model import Model


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="yardarm-serve", description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True, help="bundle directory (model.onnx + bundle.json)")
    parser.add_argument("--digest", help="expected bundle digest, sha256:<hex>; refuse to serve on mismatch")
    parser.add_argument("--model-name", help="name in URLs (default: the bundle's TrainingRun, else 'model')")
    parser.add_argument("--revision", default="1", help="revision label: the V2 model version (default 1)")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--grpc-port",
        type=int,
        default=0,
        help="port of the gRPC Open Inference Protocol service on --host (default 0: off)",
    )
    parser.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads (default: cgroup CPU quota)")
    parser.add_argument(
        "--max-request-bytes", type=int, default=4 * 1024 * 1024, help="larger bodies get 413 (default 4 MiB)"
    )
    parser.add_argument("--feedback-capacity", type=int, default=100_000, help="rows remembered for feedback")
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="pass null numeric values to the model as NaN instead of rejecting them with 400",
    )
    parser.add_argument(
        "--access-log-sample",
        type=float,
        default=1.0,
        help="fraction of successful requests written to the access log (errors always are)",
    )
    parser.add_argument("--graceful-timeout", type=float, default=25.0, help="seconds to drain on SIGTERM")
    limits = ConnectionLimits()
    parser.add_argument(
        "--header-timeout",
        type=_positive,
        default=limits.header_timeout,
        help="seconds a request's line and headers may take to arrive, in total (default %(default)g)",
    )
    parser.add_argument(
        "--body-timeout",
        type=_positive,
        default=limits.body_timeout,
        help="seconds a request body may take to arrive after its headers, in total (default %(default)g)",
    )
    parser.add_argument(
        "--keep-alive-timeout",
        type=_positive,
        default=limits.keep_alive_timeout,
        help="seconds an idle keep-alive connection is kept open (default %(default)g)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=limits.max_connections,
        help="open connections beyond this are answered 503 and closed (default %(default)d)",
    )
    parser.add_argument(
        "--max-header-bytes",
        type=int,
        default=limits.max_header_bytes,
        help="request line + headers larger than this are answered 431 (default %(default)d)",
    )
    parser.add_argument("--no-warmup", action="store_true", help="skip warm-up inferences (tests only)")
    return parser.parse_args(argv)


def _address(host: str, port: int) -> str:
    """``host:port`` as gRPC takes it (IPv6 literals in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


#: A bundle digest as the operator and ``bundle.json`` write it.
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["fetch"]:
        from .fetch import main as fetch_main  # the init container of s3:// bundles

        return fetch_main(argv[1:])
    args = parse_args(argv)
    if args.digest is not None and not DIGEST.fullmatch(args.digest):
        log_event(
            "error",
            "invalid --digest",
            digest=args.digest,
            error="--digest must be 'sha256:' followed by 64 lowercase hex digits; this is a format error, "
            "not a digest mismatch",
        )
        return 2
    try:
        manifest, model_bytes = read_bundle(args.bundle, args.digest)
    except (BundleError, ValueError, OSError) as exc:
        log_event("error", "cannot read bundle", bundle=str(args.bundle), error=str(exc))
        return 2
    digest = args.digest or sha256_bytes((args.bundle / "bundle.json").read_bytes())
    name = args.model_name or manifest.lineage.training_run or "model"

    def load() -> Model:
        model = Model(
            manifest,
            model_bytes,
            digest=digest,
            name=name,
            revision=args.revision,
            threads=intra_op_threads(args.threads),
        )
        if not args.no_warmup:
            model.warm_up()
        return model

    failed: list[bool] = []
    server: uvicorn.Server | None = None

    def fatal() -> None:
        failed.append(True)
        if server is not None:
            server.should_exit = True

    config = ServeConfig(
        max_request_bytes=args.max_request_bytes,
        feedback_capacity=args.feedback_capacity,
        allow_missing=args.allow_missing,
        access_log_sample=args.access_log_sample,
        grpc_address=_address(args.host, args.grpc_port) if args.grpc_port else None,
    )
    app = ServingApp(load, name=name, revision=args.revision, config=config, on_fatal=fatal)
    log_event(
        "info",
        "starting",
        model=name,
        revision=args.revision,
        digest=digest,
        port=args.port,
        grpc_port=args.grpc_port or None,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            loop="uvloop",
            http=guarded_protocol(
                ConnectionLimits(
                    header_timeout=args.header_timeout,
                    body_timeout=args.body_timeout,
                    keep_alive_timeout=args.keep_alive_timeout,
                    max_connections=args.max_connections,
                    max_header_bytes=args.max_header_bytes,
                ),
                app.metrics,
            ),
            ws="none",
            lifespan="on",
            access_log=False,
            log_config=UVICORN_LOG_CONFIG,
            log_level="warning",
            timeout_keep_alive=args.keep_alive_timeout,
            server_header=False,
            date_header=False,
            timeout_graceful_shutdown=args.graceful_timeout,
        )
    )
    # uvicorn drains on SIGTERM/SIGINT and then re-raises the signal to the handler that was
    # installed before it; a no-op there makes a drained shutdown exit 0 rather than die by signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _drained)
    server.run()
    return 1 if failed else 0


def _drained(signum: int, frame: object) -> None:
    """Runs when uvicorn re-raises the shutdown signal after draining: nothing left to do."""


if __name__ == "__main__":
    sys.exit(main())
