"""The code stays ruff-clean and passes mypy --strict (DESIGN.md's conventions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_is_clean() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "src", "tests"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_mypy_strict_is_clean() -> None:
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "src/pyvs"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
