"""Investments: capital commitments by investors to funds."""
