"""The distribution installs both ways, and the `operator/` directory never shadows the stdlib."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest


def _run(*cmd: str | Path, cwd: str | Path | None = None) -> str:
    """Run a command; on failure the assertion shows its stderr."""
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stderr[-3000:]}"
    return proc.stdout


STDLIB = Path(sysconfig.get_paths()["stdlib"])


def test_stdlib_operator_is_not_shadowed_in_test_runs() -> None:
    import operator

    assert Path(operator.__file__) == STDLIB / "operator.py"


def test_stdlib_operator_is_not_shadowed_from_the_repo_root(repo_root: Path) -> None:
    out = _run(sys.executable, "-c", "import operator; print(operator.__file__)", cwd=repo_root)
    assert Path(out.strip()) == STDLIB / "operator.py"


def test_stdlib_operator_wins_even_without_site_from_the_repo_root(repo_root: Path, tmp_path: Path) -> None:
    """`python -S` from the checkout puts it first and imports nothing before it: the worst case."""
    code = "import operator, collections; print(operator.__file__); operator.eq(1, 1)"
    out = _run(sys.executable, "-S", "-W", "error", "-c", code, cwd=repo_root)
    assert Path(out.strip()) == STDLIB / "operator.py"
    sample = tmp_path / "sample.json"
    sample.write_text('{"a": 1}')
    assert '"a": 1' in _run(sys.executable, "-S", "-W", "error", "-m", "json.tool", sample, cwd=repo_root)


def test_editable_install_maps_directories_to_subpackages(repo_root: Path) -> None:
    code = "import yardarm.operator, yardarm.serving, yardarm.training; print(yardarm.operator.__file__)"
    out = _run(sys.executable, "-c", code, cwd="/")
    assert out.strip() == str(repo_root / "operator" / "__init__.py")


@pytest.fixture(scope="module")
def wheel(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", out, repo_root)
    return next(out.glob("yardarm-*.whl"))


def test_wheel_holds_every_subpackage_and_no_top_level_operator(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("yardarm-")}
    assert tops == {"yardarm"}
    for sub in ("api", "operator", "serving", "training"):
        assert f"yardarm/{sub}/__init__.py" in names


def test_wheel_installs_into_a_fresh_venv_and_generates_crds(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    _run(py, "-m", "pip", "install", "-q", wheel)
    _run(env_dir / "bin" / "yardarm", "crds", "--root", tmp_path)
    assert len(list((tmp_path / "crds").glob("*.yaml"))) == 4
    check = "import operator, yardarm.operator; assert operator.itemgetter; print(yardarm.operator.__file__)"
    out = _run(py, "-c", check, cwd=tmp_path)
    assert str(env_dir) in out
