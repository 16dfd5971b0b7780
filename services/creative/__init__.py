"""Ads as creative: classification, media assets, ad creation and image models."""
