"""Design probe for benchmark 1: what a preloading fork server would save (not in `make bench`).

The framework overhead (benchmark 1) is mostly one Python process per stage, each importing
MLflow, PyCaret or Evidently again. This probe measures the fix before building it: in a
throwaway copy (default data, after one untimed `dvc repro`), alternately,

- cold: every stage's cmd in order (`python stages/<stage>.py`), as `dvc repro` runs them;
- preloaded: one process imports the heavy libraries once, then forks one child per stage that
  runs the same stage script (`runpy`, as `__main__`) and waits for it; the time includes the
  preloading.

Both sides run the same scripts on the same files; only the imports are shared. Not measured
here: DVC's own time (3-4 s, benchmark 1) and what a real server needs on top (a socket,
passing the caller's cwd, environment and file descriptors, forwarding signals).
Run: `python bench/preload_fork.py` (`--repeats N`).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from pathlib import Path

from _common import Copy, log, make_copy, median, ratio

PRELOAD = ("pandas", "numpy", "pyarrow.parquet", "sklearn", "joblib", "lightgbm", "mlflow",
           "mlflow.sklearn", "mlflow.pyfunc", "mlflow.store.tracking.sqlalchemy_store",
           "pycaret.classification", "pycaret.internal.pipeline", "evidently",
           "evidently.presets", "matplotlib.pyplot", "sqlalchemy", "alembic")

FORK_SERVER = """
import importlib, os, runpy, sys, threading
import matplotlib
matplotlib.use("Agg")
for name in {preload!r}:
    importlib.import_module(name)
assert threading.active_count() == 1, threading.enumerate()  # fork-safe: no other thread
for script in {scripts!r}:
    pid = os.fork()
    if pid == 0:
        sys.argv, sys.path[0] = [script], os.path.dirname(os.path.abspath(script))
        runpy.run_path(script, run_name="__main__")
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if status:
        sys.exit(f"{{script}} ended with wait status {{status}}")
"""


def stage_scripts(copy: Copy) -> list[str]:
    """The script of every stage cmd (`python stages/<stage>.py`), in pipeline order."""
    scripts = [cmd.split()[1] for _, cmd in copy.stage_commands()]
    assert all(s.startswith("stages/") for s in scripts), scripts
    return scripts


def main() -> None:
    """Alternate the two sides; print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    assert threading.active_count() == 1
    with tempfile.TemporaryDirectory(prefix="mlgate-bench-") as tmp:
        copy = make_copy(Path(tmp) / "repo")
        copy.dvc("repro")
        scripts = stage_scripts(copy)
        server = FORK_SERVER.format(preload=PRELOAD, scripts=scripts)
        sides = {"cold: one process per stage":
                 lambda: sum(copy.timed(*copy.python(s)) for s in scripts),
                 "preloaded: one fork per stage": lambda: copy.timed(*copy.python("-c", server))}
        times: dict[str, list[float]] = {k: [] for k in sides}
        for i in range(args.repeats):
            for name in list(sides)[:: 1 if i % 2 == 0 else -1]:
                times[name].append(sides[name]())
                log(f"{name}: {times[name][-1]:.1f} s")
    cold, warm = (median(v) for v in times.values())
    log(f"median of {args.repeats}: cold {cold:.1f} s, preloaded {warm:.1f} s, "
        f"ratio {ratio(warm, cold)}")


if __name__ == "__main__":
    main()
