"""Logging, request ids, tracing and metrics."""
