"""The platform: accounts, sign-in, API tokens, storage and downloads, notifications, Slack out, demo data."""
