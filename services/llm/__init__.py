"""Models: which provider answers, Gemini calls, embeddings."""
