"""Failures a Job reports to its user: each carries an exit code, a CamelCase reason and one sentence.

Code that finds a problem the user can fix raises one of these; anything else that escapes is a
crash (exit 1). The CLI turns them into the termination message, tests assert on them directly.
"""

from __future__ import annotations

from yardarm.jobresult import ExitCode


class JobError(Exception):
    """A failure with a sentence a user can act on; ``str(exc)`` is that sentence."""

    exit_code: ExitCode = ExitCode.BAD_INPUT
    default_reason: str = "InvalidInput"

    def __init__(self, message: str, *, reason: str | None = None, metrics: dict[str, float] | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        #: Metrics measured before the failure (quality gate, parity), so status can still show them.
        self.metrics = metrics


class BadInputError(JobError):
    """The spec or the data is wrong (exit 2)."""

    exit_code = ExitCode.BAD_INPUT
    default_reason = "InvalidInput"


class UnreachableError(JobError):
    """The data source or the artifact store cannot be reached or read (exit 3)."""

    exit_code = ExitCode.UNREACHABLE
    default_reason = "SourceUnreachable"


class QualityGateError(JobError):
    """A test metric missed a quality gate (exit 4)."""

    exit_code = ExitCode.QUALITY_GATE
    default_reason = "QualityGateMissed"


class ParityError(JobError):
    """ONNX Runtime does not reproduce scikit-learn within tolerance (exit 5)."""

    exit_code = ExitCode.PARITY
    default_reason = "ParityFailed"
