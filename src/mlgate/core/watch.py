"""The watcher's bookkeeping: which inbox files arrived, which are held, which form a batch.

Pure logic over a ledger (a JSON document the adapter writes atomically after every step), so
that a crash anywhere leaves it consistent: a file is `held` once it passed the batch contract,
`done` once its batch's drift check, snapshot and action are recorded, `quarantined` when it
failed. A batch is formed from held files in arrival order once they reach `min_rows`; the
same held files always form the same batch, so a batch redone after a crash replaces its own
snapshot (identity: batch, model version) instead of adding a second one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.base.errors import ConfigError
from mlgate.base.params import check_number, check_section

SUFFIXES = (".csv", ".parquet", ".pq")
# Files still being written by the sender, by the usual conventions; deliver atomically
# (write elsewhere, then rename into the inbox) or give the file one of these names meanwhile.
PARTIAL = (".tmp", ".part", ".partial", ".crdownload", ".filepart")
RETRAIN_MODES = ("run", "queue", "off")
LEDGER_VERSION = 1


@dataclass(frozen=True)
class WatchConfig:
    """`monitor.watch:` the inbox, the rows a drift check needs, and how a retrain starts."""

    inbox: str
    min_rows: int
    poll_s: float
    settle_s: float
    retrain: str  # run | queue | off
    holdout_share: float
    labels: str  # sub-folder of the inbox for late labels
    overrides: list[str]  # Hydra overrides every retrain passes again (e.g. experiment=...)

    @classmethod
    def from_params(cls, section: Any) -> WatchConfig:
        """Build from `monitor.watch`, naming an unknown, missing or bad key."""
        keys = {"inbox", "min_rows", "poll_s", "settle_s", "retrain", "holdout_share", "labels",
                "overrides"}
        cfg = cls(**check_section(section, "monitor.watch", keys))
        for key in ("inbox", "labels"):
            value = getattr(cfg, key)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"`monitor.watch.{key}` must be a folder name, got {value!r}")
        check_number(cfg.min_rows, "monitor.watch.min_rows", low=1, integer=True)
        check_number(cfg.poll_s, "monitor.watch.poll_s", low=0, open_low=True)
        check_number(cfg.settle_s, "monitor.watch.settle_s", low=0)
        check_number(cfg.holdout_share, "monitor.watch.holdout_share", low=0, high=1,
                     open_low=True, open_high=True)
        if not isinstance(cfg.overrides, list) or not all(
                isinstance(o, str) and "=" in o for o in cfg.overrides):
            raise ConfigError("`monitor.watch.overrides` must be a list of Hydra overrides "
                              f"such as experiment=stream, got {cfg.overrides!r}")
        if cfg.retrain not in RETRAIN_MODES:
            raise ConfigError(f"`monitor.watch.retrain` must be one of {list(RETRAIN_MODES)}, "
                              f"got {cfg.retrain!r}")
        return cfg


@dataclass
class Ledger:
    """What the watcher has seen and done, kept in `<inbox>/.mlgate/ledger.json`."""

    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> sha256, rows, ...
    batches: list[dict[str, Any]] = field(default_factory=list)  # in processing order
    stopped: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> batch, reason
    delivered: dict[str, str] = field(default_factory=dict)  # batch -> model | current

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str) -> Ledger:
        """Read a ledger document; ConfigError naming `source` when it is not one."""
        if not isinstance(data, dict) or data.get("version") != LEDGER_VERSION:
            raise ConfigError(f"{source}: not a version-{LEDGER_VERSION} watcher ledger")
        return cls(files=dict(data.get("files") or {}), batches=list(data.get("batches") or []),
                   stopped=dict(data.get("stopped") or {}),
                   delivered=dict(data.get("delivered") or {}))

    def to_dict(self) -> dict[str, Any]:
        """The JSON document."""
        return {"version": LEDGER_VERSION, "files": self.files, "batches": self.batches,
                "stopped": self.stopped, "delivered": self.delivered}

    def held(self) -> list[str]:
        """Held files in arrival order (the order they were admitted)."""
        return [n for n, f in self.files.items() if f["status"] == "held"]


def candidates(inbox: Path, now: float, settle_s: float) -> list[Path]:
    """Table files in the inbox (not in sub-folders), oldest first, skipping hidden, partial
    and just-modified ones."""
    found = []
    for path in inbox.iterdir() if inbox.is_dir() else []:
        name = path.name
        if not path.is_file() or name.startswith((".", "~")) or name.endswith(PARTIAL):
            continue
        if path.suffix.lower() in SUFFIXES and now - path.stat().st_mtime >= settle_s:
            found.append(path)
    return sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name))


def groups(held: list[tuple[str, int]], min_rows: int) -> tuple[list[list[str]], list[str]]:
    """Split held files (name, rows), in order, into batches of at least `min_rows` rows; the
    rest stays held: (batches, still held)."""
    batches: list[list[str]] = []
    current: list[str] = []
    rows = 0
    for name, n in held:
        current.append(name)
        rows += n
        if rows >= min_rows:
            batches.append(current)
            current, rows = [], 0
    return batches, current


def batch_name(files: list[str]) -> str:
    """A batch's name from its files' stems: `b3`, or `b3+2` for b3 and the two after it; safe
    as a file name and inside a quoted pandas expression."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(files[0]).stem)
    return stem if len(files) == 1 else f"{stem}+{len(files) - 1}"
