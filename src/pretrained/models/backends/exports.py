"""The export.json record of a folder written by `pretrained export` (read by the CTranslate2
and the portable engines)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...errors import ModelLoadError

EXPORT_FILE = "export.json"


def read_export(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / EXPORT_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"'{folder}' has no readable {EXPORT_FILE}",
            hint="point --model at a folder written by 'pretrained export'",
        ) from exc
