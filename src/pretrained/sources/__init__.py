"""Text in: files, stdin, prompt lists (and, as capabilities land, URLs, PDFs, Wikipedia, S3).

Every reader raises an `InputError` subclass with a hint; none returns partial garbage.
"""

from .files import read_stdin, read_text_file
from .prompts import read_prompt_file

__all__ = ["read_prompt_file", "read_stdin", "read_text_file"]
