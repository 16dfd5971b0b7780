"""Meta as a source: the Graph API client, sync, CSV import, OAuth, tokens and their vault."""
