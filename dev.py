#!/usr/bin/env python3.11
"""Set up and run storyfold from a fresh clone, with nothing but Python 3.11.

    python3.11 dev.py demo    install into .venv, then run API + worker + embedded Redis on the seeds
    python3.11 dev.py test    install into .venv, then lint, type-check and run the test suite
    python3.11 dev.py setup   install only

Installs are pinned by requirements.lock and skipped when nothing changed since the last one.
Extra arguments after `test` go to pytest; after `demo`, to `storyfold serve`. Both run in the
clone's root folder (paths in extra arguments are relative to it).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".storyfold-installed"
LOCK = ROOT / "requirements.lock"
PACKAGES = ("core", "embedding", "service", "workers", "storyfold", "harness")


def run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT)


def setup() -> None:
    if sys.version_info[:2] != (3, 11):
        sys.exit(
            f"storyfold needs Python 3.11, this is {sys.version.split()[0]}: run it with python3.11"
        )
    inputs = (LOCK, ROOT / "pyproject.toml", ROOT / "scripts" / "install.sh")
    wanted = hashlib.sha256(b"".join(p.read_bytes() for p in inputs)).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    # The same pinned steps the Dockerfile runs (CPU torch first, then the package).
    run("sh", ROOT / "scripts" / "install.sh", BIN / "python", "-e", ".[dev,bench]")
    STAMP.write_text(wanted)


def main() -> None:
    command, rest = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if command not in ("demo", "test", "setup"):
        sys.exit(__doc__)
    setup()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    # From the clone's root, wherever it was started: `--seeds seeds`, ./data, .env and pytest's
    # configuration are all relative to it.
    os.chdir(ROOT)
    if command == "demo":
        args = ["serve", "--seeds", "seeds", *rest]
        os.execve(BIN / "storyfold", [str(BIN / "storyfold"), *args], env)
    elif command == "test":
        run(BIN / "ruff", "check", *PACKAGES, "tests", "benchmarks", "dev.py")
        run(BIN / "mypy")
        run(BIN / "lint-imports")  # the dependency rule: pyproject.toml's [tool.importlinter]
        os.execve(BIN / "pytest", [str(BIN / "pytest"), *rest], env)


if __name__ == "__main__":
    main()
