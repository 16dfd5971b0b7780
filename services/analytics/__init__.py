"""Metrics, reporting windows, performance, hooks, congruence, deep analysis and briefings."""
