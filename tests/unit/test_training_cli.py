"""The CLI's failure plumbing: a crash is exit 1 with InternalError, inputs come from flags or env."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from yardarm.jobresult import ExitCode, decode_result
from yardarm.training import cli, profile

pytestmark = pytest.mark.unit


def test_an_unexpected_exception_is_a_crash_with_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(profile, "run_profile", explode)
    result_path = tmp_path / "r.json"
    env = {"YARDARM_SPEC": json.dumps({"source": {"uri": "builtin://iris"}, "target": "target"})}
    assert cli.main(["profile", "--output", str(tmp_path), "--result-path", str(result_path)], env=env) == 1
    result = decode_result(result_path.read_bytes())
    assert result.exit_code == ExitCode.CRASH and result.reason == "InternalError"
    assert result.message.startswith("yardarm-train crashed with RuntimeError: disk on fire;")
    assert "Traceback" in capsys.readouterr().err


def test_no_spec_anywhere_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result_path = tmp_path / "r.json"
    assert cli.main(["profile", "--output", str(tmp_path), "--result-path", str(result_path)], env={}) == 2
    assert "pass --spec FILE or set YARDARM_SPEC" in capsys.readouterr().err


def test_the_default_result_path_is_skipped_outside_a_pod(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = decode_result(b'{"kind":"profile","ok":false,"exitCode":2,"reason":"X"}')
    cli.write_result(result, str(tmp_path / "absent" / "termination-log"), explicit=False)
    assert "result not written" in capsys.readouterr().err
