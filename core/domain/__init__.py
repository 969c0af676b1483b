"""The domain: models, errors, settings and image helpers. Imports nothing else of core."""
