"""The constrained-generation flags of `generate` and `chat` (docs/structured.md).

`--json` already means machine-readable output on these commands, so "any JSON object" is
`--json-object`."""

from __future__ import annotations

from typing import Annotated

import typer

PANEL = "Output constraints"

JsonSchema = Annotated[
    str | None,
    typer.Option(
        "--json-schema",
        help="The output must be JSON matching this schema: a file or the schema as JSON.",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
JsonObject = Annotated[
    bool,
    typer.Option(
        "--json-object",
        help="The output must be a JSON object (any; see --json-schema for a shape).",
        rich_help_panel=PANEL,
    ),
]
Regex = Annotated[
    str | None,
    typer.Option(
        "--regex",
        help="The whole output must match this regular expression.",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
Choice = Annotated[
    str | None,
    typer.Option(
        "--choice",
        help="The output must be exactly one of these comma-separated choices.",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
