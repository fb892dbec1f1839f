"""Kopf handlers and the pure builders and reconcilers behind them (installed as ``yardarm.operator``).

This directory is named ``operator`` after the product's layout, and that is also the name of a
standard-library module. When Python runs with the repository root on ``sys.path`` (``python -m``
from a checkout, before anything else imported ``operator``), this file could be found first.
The guard below then hands the name over to the standard library's module, so nothing that
imports ``operator`` ever gets this package. Only frozen import machinery is used, because the
usual helpers (``importlib.util``) import ``operator`` themselves.
"""

if __name__ == "operator":  # imported as the top-level stdlib name, not as yardarm.operator
    import os as _os
    import sys as _sys
    from importlib.machinery import ModuleSpec as _Spec
    from importlib.machinery import SourceFileLoader as _Loader

    _path = _os.path.join(_os.path.dirname(_os.__file__), "operator.py")
    _loader = _Loader("operator", _path)
    _stdlib = type(_sys)("operator")
    _stdlib.__file__ = _path
    _stdlib.__spec__ = _Spec("operator", _loader, origin=_path)
    _sys.modules["operator"] = _stdlib
    _loader.exec_module(_stdlib)
