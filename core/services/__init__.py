"""The services pages, the API and the CLI call: jobs, accounts, review, admin, purge, stats."""
