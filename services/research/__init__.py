"""Research: pages, landing pages, offer variants, reviews, Reddit, competitors, evidence, personas, content gaps, patterns."""
