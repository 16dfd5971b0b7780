"""Deterministic demo data across every domain (it seeds them all, so it sits above them)."""
