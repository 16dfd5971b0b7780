"""Load benchmark: a large synthetic brand, and timings of the chat tools against a SQL floor."""
