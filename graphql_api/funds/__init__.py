"""Funds: vehicles that raise capital from investors, up to an optional hard cap."""
