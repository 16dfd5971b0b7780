"""Reconstruction blueprints of landing pages: the analysis, its offline version and exports."""
