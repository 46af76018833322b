"""Bundled sample data: a synthetic agency export (no real people) and its agency.toml."""
