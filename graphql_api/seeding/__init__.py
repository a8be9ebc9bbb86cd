"""Deterministic data sets: the embedded demo data and `graphql-api seed`."""
