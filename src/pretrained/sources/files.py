"""Local text files and stdin."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import EmptyInputError, InputNotFoundError, UnreadableInputError

_ENCODINGS = ("utf-8-sig", "utf-16", "cp1252", "latin-1")


def _looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 text with a BOM
        return False
    if b"\x00" in sample:
        return True
    control = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return bool(sample) and control / len(sample) > 0.05


def _detect(data: bytes) -> str | None:
    """Legacy 8-bit and CJK encodings (cp1251, Shift-JIS, GB18030 …) via charset-normalizer."""
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - installed with the [text] extra
        return None
    matches = from_bytes(data[: 1 << 20])
    best = matches.best()
    if best is None:
        return None
    encoding = best.encoding
    # Short Western texts fit several code pages equally well; prefer the most common one.
    ties = {
        m.encoding
        for m in matches
        if m.chaos <= best.chaos + 0.01 and m.coherence >= best.coherence - 0.01
    }
    if ties & {"cp1252", "latin_1", "iso8859_1", "iso8859_15"}:
        encoding = "cp1252"
    try:
        return data.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        return None


def decode_bytes(data: bytes, name: str) -> str:
    if _looks_binary(data):
        raise UnreadableInputError(
            f"'{name}' looks like a binary file, not text",
            hint="pass a text file (.txt, .md, .jsonl …)",
        )
    # UTF-8 (with or without BOM); UTF-16 only with its BOM (without one, any even-length
    # byte string "decodes" as UTF-16 garbage).
    encodings = _ENCODINGS[:2] if data.startswith((b"\xff\xfe", b"\xfe\xff")) else _ENCODINGS[:1]
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    detected = _detect(data)
    if detected:
        return detected
    for encoding in _ENCODINGS[2:]:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableInputError(
        f"cannot decode '{name}' as text"
    )  # pragma: no cover - latin-1 decodes all


def read_file_bytes(path: str | Path) -> tuple[Path, bytes]:
    """A file's bytes, or InputNotFoundError / UnreadableInputError with a hint."""
    target = Path(path).expanduser()
    if not target.exists():
        raise InputNotFoundError(
            f"file not found: {target}",
            hint="check the path (relative paths start from the current folder)",
        )
    if target.is_dir():
        raise UnreadableInputError(f"'{target}' is a folder, not a file", hint="pass a file path")
    try:
        return target, target.read_bytes()
    except OSError as exc:
        raise UnreadableInputError(
            f"cannot read '{target}': {exc.strerror}", hint="check the file permissions"
        ) from exc


def read_text_file(path: str | Path, *, allow_empty: bool = False) -> str:
    target, data = read_file_bytes(path)
    text = decode_bytes(data, str(target))
    if not allow_empty and not text.strip():
        raise EmptyInputError(f"'{target}' is empty", hint="pass a file with some text in it")
    return text


def read_stdin(*, allow_empty: bool = False) -> str:
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    text = decode_bytes(data, "stdin")
    if not allow_empty and not text.strip():
        raise EmptyInputError(
            "stdin was empty", hint="pipe some text in, e.g. echo 'Hello' | pretrained generate -"
        )
    return text
