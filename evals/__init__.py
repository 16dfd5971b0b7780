"""The labelled phrasings and their runner (`make eval`)."""
