"""The template library: import, images, scoring, recommendations and auto-recommendations."""
