"""Typer command groups; each module exposes `register(app)` and is wired in guard/operator/cli.py."""
