"""Persistence infrastructure: engine, sessions, column types and the models."""
