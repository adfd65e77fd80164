"""tasks — see docs/ARCHITECTURE.md."""
