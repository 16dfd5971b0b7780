"""The vocabulary every layer shares: the errors a person reads (db raises them too, so they sit below it)."""
