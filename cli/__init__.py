"""`viraltracker`: set up the database, seed demo data, onboard people, import, and chat from a shell."""

from __future__ import annotations

from cli import ads, brands, classify, data, doctor, schedules, serve  # noqa: F401  (each registers its commands on the app)
from cli.base import _print_turn, app, console, main

__all__ = ["_print_turn", "app", "console", "main"]
