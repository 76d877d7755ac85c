"""Command lines that run pyvs's own programs from a subprocess.

Lab code starts `pyvs`, `pyvsadm` and the lab helpers (httpd, httpclient,
ping) inside network namespaces. These functions return the argv prefix for
each, preferring an installed console script and falling back to the current
interpreter, and `pyvs_env()` makes sure that interpreter imports the same
`pyvs` package as the caller (also when it runs from a source tree).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pyvs.child_env import child_env


def _console_script(name: str, module: str) -> list[str]:
    # The script beside this interpreter (the same installation: /opt/pyvs/bin/NAME),
    # never whichever comes first on PATH.
    exe = Path(sys.executable).parent / name
    if exe.is_file() and os.access(exe, os.X_OK):
        return [str(exe)]
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
    return child_env(base)
