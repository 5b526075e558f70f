"""`python tests/slowed.py TARGET SECONDS MARK -- ARGS...`: `storyfold ARGS...` with one function made
SECONDS slower, for tests/test_lifecycle.py. Test-only; nothing in the product reads it.

TARGET is `module:function` or `module:Class.method`, patched where the worker looks it up. When
the function is called it first touches MARK (so the test knows the process is inside it), then
sleeps in time.sleep, which checks no stop event: the stand-in for a long native call nothing can
interrupt (a model batch, a huge story's summary, HDBSCAN over a big window). Then it runs the
real function, so a stop that waits long enough sees the real work done.
"""

from __future__ import annotations

import functools
import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def slow_down(target: str, seconds: float, mark: Path) -> None:
    module_name, _, attr_path = target.partition(":")
    owner: Any = importlib.import_module(module_name)
    *parents, name = attr_path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    original: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(original)
    def slowed(*args: Any, **kwargs: Any) -> Any:
        mark.touch()
        time.sleep(seconds)
        return original(*args, **kwargs)

    setattr(owner, name, slowed)


def main() -> None:
    target, seconds, mark, sep, *args = sys.argv[1:]
    if sep != "--":
        raise SystemExit(__doc__)
    sys.path.insert(0, str(REPO))
    slow_down(target, float(seconds), Path(mark))
    from storyfold.cli import app

    app(args=args, prog_name="storyfold")


if __name__ == "__main__":
    main()
