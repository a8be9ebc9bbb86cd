"""GraphQL composition root and GraphQL-wide plumbing (scalars, errors, pagination)."""
