"""Investors: individuals, institutions and family offices committing capital to funds."""
