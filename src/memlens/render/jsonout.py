"""JSON output: deterministic (sorted keys), versioned by ``schema_version``."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

SCHEMA_VERSION = 1


def dump(kind: str, payload: dict[str, Any], stream: TextIO | None = None) -> None:
    """Write ``payload`` as one JSON document tagged with its kind and schema version."""
    doc = {"schema_version": SCHEMA_VERSION, "kind": kind, **payload}
    out = stream or sys.stdout
    json.dump(doc, out, sort_keys=True, indent=1)
    out.write("\n")
