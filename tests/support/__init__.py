"""Shared test helpers (servers, settings builders)."""
