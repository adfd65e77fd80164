"""Command-line interface: one small module per command group, all over the library API."""
