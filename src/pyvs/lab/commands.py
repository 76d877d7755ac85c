"""Command lines that run pyvs's own programs from a subprocess.

Lab code starts `pyvs`, `pyvsadm` and the lab helpers (httpd, httpclient,
ping) inside network namespaces. These functions return the argv prefix for
each, preferring an installed console script and falling back to the current
interpreter, and `pyvs_env()` makes sure that interpreter imports the same
`pyvs` package as the caller (also when it runs from a source tree).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pyvs

PACKAGE_ROOT = str(Path(pyvs.__file__).resolve().parent.parent)


def _console_script(name: str, module: str) -> list[str]:
    exe = shutil.which(name)
    if exe:
        return [exe]
    return [sys.executable, "-c", f"import sys; from {module} import main; sys.exit(main())"]


def pyvsadm_argv() -> list[str]:
    """argv prefix of `pyvsadm` (the console script if installed, else pyvs.cli.ipvsadm:main)."""
    return _console_script("pyvsadm", "pyvs.cli.ipvsadm")


def pyvs_argv() -> list[str]:
    """argv prefix of `pyvs` (the console script if installed, else pyvs.cli.pyvs_main:main)."""
    return _console_script("pyvs", "pyvs.cli.pyvs_main")


def python_module_argv(module: str) -> list[str]:
    """argv prefix that runs `python -m module` with the current interpreter."""
    return [sys.executable, "-m", module]


def python_code_argv(code: str) -> list[str]:
    """argv that runs `python -c code` with the current interpreter."""
    return [sys.executable, "-c", code]


def pyvs_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child that imports pyvs: PYTHONPATH starts with this package's root."""
    env = dict(os.environ if base is None else base)
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if PACKAGE_ROOT not in parts:
        parts.insert(0, PACKAGE_ROOT)
    env["PYTHONPATH"] = os.pathsep.join(parts)
    return env
