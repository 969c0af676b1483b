"""PLACEHOLDER (branch b1-fastapi): the real registry comes from another branch at merge.
Only what the API needs: the names of the built-in providers, as build_providers builds them."""

from __future__ import annotations


def provider_names() -> tuple[str, ...]:
    """The built-in providers' names, in build_providers' order."""
    return ("demo", "openai", "gemini", "ideogram")
