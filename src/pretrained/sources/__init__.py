"""Text in: files (txt/md/html/pdf/docx, encoding detection, binary refusal), URLs, Wikipedia,
stdin, prompt lists. `load_text(source) -> Document` is the entry point for every text task.

Every reader raises an `InputError` subclass with a hint; none returns partial garbage.
"""

from .documents import Document, document_from_bytes, from_text, load_text
from .files import read_stdin, read_text_file
from .prompts import read_prompt_file

__all__ = [
    "Document",
    "document_from_bytes",
    "from_text",
    "load_text",
    "read_prompt_file",
    "read_stdin",
    "read_text_file",
]
