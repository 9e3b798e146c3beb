"""Shadow evidence in the registry: one tag per batch on the challenger version (IO edge)."""

from __future__ import annotations

import logging
from typing import Any

from mlgate.adapters.registry import get_version, set_version_tags
from mlgate.core.shadow import records, tag

log = logging.getLogger(__name__)


def record_batch(model_name: str, version: str, batch_id: str, record: dict[str, Any]
                 ) -> dict[str, dict[str, Any]]:
    """Keep one batch's comparison on the challenger version (replacing the same batch's);
    return every batch record the version now holds."""
    key, value = tag(batch_id, record)
    set_version_tags(model_name, version, {key: value})
    log.info("shadow evidence of %s v%s: batch %s, %d rows, agreement %.3f", model_name,
             version, batch_id, record["rows"], record["agreement"])
    return batch_records(model_name, version)


def batch_records(model_name: str, version: str) -> dict[str, dict[str, Any]]:
    """Every batch record kept on a version (batch id -> record)."""
    return records(dict(get_version(model_name, version).tags))
