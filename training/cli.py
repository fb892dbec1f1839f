"""``yardarm-train``: the entry point of Dataset (``profile``) and TrainingRun (``train``) Jobs.

Inputs come as flags or, for the operator's convenience, environment variables (flags win):

=====================  ==========================  ===============================================
flag                   environment                 meaning
=====================  ==========================  ===============================================
``--spec FILE``        ``YARDARM_SPEC`` (JSON)     the Dataset spec (profile) or TrainingRun spec
``--dataset-spec F``   ``YARDARM_DATASET_SPEC``    train: the referenced Dataset's spec
``--spec-env NAME``                                read the spec from variable NAME instead
``--dataset-env NAME``                             read the Dataset from variable NAME instead
``--dataset-digest``   ``YARDARM_DATASET_DIGEST``  train: the digest profiling recorded
``--output URI``       ``YARDARM_OUTPUT``          store prefix (file://, pvc://, s3://)
``--name``             ``YARDARM_NAME``            the resource's name, for lineage
``--namespace``        ``YARDARM_NAMESPACE``       the resource's namespace
``--result-path``      ``YARDARM_RESULT_PATH``     termination message file (/dev/termination-log)
=====================  ==========================  ===============================================

A spec may be the bare ``spec`` or the whole resource object (``-`` reads stdin). The outcome goes
to the result path as JSON (:mod:`yardarm.jobresult`, ≤ 4 KiB) and the process exits with a
:class:`yardarm.jobresult.ExitCode`. A failure prints one sentence on stderr saying what to fix.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from yardarm.api.trainingrun import ModelInfo, Parity, TensorSpec
from yardarm.bundle import served_outputs
from yardarm.jobresult import TERMINATION_LOG, ExitCode, ProfileResult, TrainResult, bounded_warnings, encode_result
from yardarm.training.errors import BadInputError, JobError
from yardarm.training.specs import LoadedSpec, parse_spec_json
from yardarm.training.threads import limit_native_threads


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yardarm-train", description="Profile a Dataset or train a TrainingRun.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("profile", "digest and profile a Dataset's source"),
        ("train", "train, verify and export a TrainingRun's model"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--spec", help="spec JSON file ('-' for stdin); default: the variable named by --spec-env")
        sub.add_argument("--spec-env", default="YARDARM_SPEC", help="environment variable holding the spec JSON")
        sub.add_argument("--output", help="store URI for artifacts; default: $YARDARM_OUTPUT")
        sub.add_argument("--name", help="resource name for lineage; default: $YARDARM_NAME")
        sub.add_argument("--namespace", help="resource namespace for lineage; default: $YARDARM_NAMESPACE")
        sub.add_argument(
            "--result-path", help=f"termination message file; default: $YARDARM_RESULT_PATH or {TERMINATION_LOG}"
        )
        if name == "train":
            sub.add_argument("--dataset-spec", help="Dataset spec JSON file; default: the variable of --dataset-env")
            sub.add_argument(
                "--dataset-env", default="YARDARM_DATASET_SPEC", help="environment variable holding the Dataset JSON"
            )
            sub.add_argument("--dataset-digest", help="expected data digest; default: $YARDARM_DATASET_DIGEST")
    return parser


def _load_spec(path: str | None, env_var: str, what: str, env: Mapping[str, str], flag: str = "--spec") -> LoadedSpec:
    """A spec from a file, stdin or an environment variable."""
    if path == "-":
        return parse_spec_json(sys.stdin.read(), what)
    if path:
        try:
            return parse_spec_json(Path(path).read_text(), what)
        except OSError as exc:
            raise BadInputError(
                f"The {what} spec file {path} cannot be read: {exc.strerror}.", reason="InvalidSpec"
            ) from exc
    text = env.get(env_var)
    if not text:
        raise BadInputError(f"No {what} spec given: pass {flag} FILE or set {env_var}.", reason="InvalidSpec")
    return parse_spec_json(text, what)


def creation_time(env: Mapping[str, str]) -> datetime | None:
    """The time to record in lineage: ``SOURCE_DATE_EPOCH`` when set (reproducible builds'
    convention), so the same spec and data give the same bundle digest; otherwise now."""
    text = env.get("SOURCE_DATE_EPOCH")
    if not text:
        return None
    try:
        return datetime.fromtimestamp(int(text), UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise BadInputError(
            f"SOURCE_DATE_EPOCH must be whole seconds since 1970, not {text!r}.", reason="InvalidSpec"
        ) from exc


def _profile(args: argparse.Namespace, env: Mapping[str, str]) -> ProfileResult:
    from yardarm.training.profile import run_profile

    loaded = _load_spec(args.spec, args.spec_env, "Dataset", env)
    output = args.output or env.get("YARDARM_OUTPUT")
    if not output:
        raise BadInputError("No output store given: pass --output URI or set YARDARM_OUTPUT.", reason="NoOutput")
    outcome = run_profile(loaded.spec, output, env=env, now=creation_time(env))
    profile = outcome.profile
    for text in profile.warnings:
        print(f"warning: {text}", file=sys.stderr)
    print(f"Profiled {profile.source_uri}: {profile.rows} rows, {profile.columns} columns, {profile.digest}.")
    return ProfileResult(
        ok=True,
        exit_code=ExitCode.OK,
        reason="Profiled",
        message=f"{profile.rows} rows, {profile.columns} columns",
        digest=profile.digest,
        rows=profile.rows,
        columns=profile.columns,
        profile_uri=outcome.profile_uri,
        features=profile.features,
        warnings=bounded_warnings(profile.warnings),
    )


def _train(args: argparse.Namespace, env: Mapping[str, str]) -> TrainResult:
    from yardarm.training.train import run_training

    loaded = _load_spec(args.spec, args.spec_env, "TrainingRun", env)
    dataset = _load_spec(args.dataset_spec, args.dataset_env, "Dataset", env, flag="--dataset-spec")
    outcome = run_training(
        loaded.spec,
        dataset.spec,
        args.output or env.get("YARDARM_OUTPUT") or None,
        dataset_digest=args.dataset_digest or env.get("YARDARM_DATASET_DIGEST") or None,
        name=args.name or env.get("YARDARM_NAME") or loaded.name,
        namespace=args.namespace or env.get("YARDARM_NAMESPACE") or loaded.namespace,
        env=env,
        now=creation_time(env),
    )
    manifest = outcome.manifest
    print(f"Trained {manifest.lineage.estimator}: {outcome.headline}; bundle {outcome.digest} at {outcome.bundle_uri}.")
    inputs = [TensorSpec(name=f.name, datatype=f.datatype, shape=[-1, 1]) for f in manifest.inputs]
    # Declared as yardarm-serve's model metadata answers them (a classifier's label is class names).
    graph = {name: outcome.output_types.get(name, ("FP32", [])) for name in manifest.outputs}
    outputs = [
        TensorSpec(name=name, datatype=datatype, shape=shape or None)
        for name, (datatype, shape) in served_outputs(manifest.task, graph).items()
    ]
    parity = Parity.model_validate(manifest.parity.model_dump())
    return TrainResult(
        ok=True,
        exit_code=ExitCode.OK,
        reason="Trained",
        message=outcome.headline or "",
        dataset_digest=outcome.dataset_digest,
        metrics=outcome.metrics,
        headline=outcome.headline,
        warnings=bounded_warnings(outcome.warnings),
        model=ModelInfo(
            uri=outcome.bundle_uri,
            digest=outcome.digest,
            opset=manifest.opset,
            inputs=inputs,
            outputs=outputs,
            parity=parity,
        ),
    )


def write_result(result: ProfileResult | TrainResult, path: str, *, explicit: bool) -> None:
    """Write the termination message; a missing default path (outside a pod) is only noted."""
    target = Path(path)
    if not explicit and not target.exists():
        print(f"note: {path} does not exist (not in a pod?); result not written", file=sys.stderr)
        return
    try:
        target.write_bytes(encode_result(result))
    except OSError as exc:
        print(f"note: cannot write the result to {path}: {exc.strerror}", file=sys.stderr)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run one command; return its :class:`ExitCode` (the console script exits with it)."""
    env = os.environ if env is None else env
    args = _parser().parse_args(argv)
    limit_native_threads()
    result_cls = ProfileResult if args.command == "profile" else TrainResult
    result: ProfileResult | TrainResult
    try:
        result = _profile(args, env) if args.command == "profile" else _train(args, env)
    except JobError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if result_cls is TrainResult and exc.metrics:
            result = TrainResult(
                ok=False, exit_code=exc.exit_code, reason=exc.reason, message=exc.message, metrics=exc.metrics
            )
        else:
            result = result_cls(ok=False, exit_code=exc.exit_code, reason=exc.reason, message=exc.message)
    except Exception as exc:  # a crash: keep the traceback for the log, one sentence for the status
        traceback.print_exc()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        message = (
            f"yardarm-train crashed with {type(exc).__name__}: {first}; "
            "this is a bug or an infrastructure fault, see the pod log."
        )
        print(f"error: {message}", file=sys.stderr)
        result = result_cls(ok=False, exit_code=ExitCode.CRASH, reason="InternalError", message=message)
    explicit = args.result_path or env.get("YARDARM_RESULT_PATH")
    write_result(result, explicit or TERMINATION_LOG, explicit=bool(explicit))
    return int(result.exit_code)


if __name__ == "__main__":
    sys.exit(main())
