"""Moving funds, investors and investments in and out: `graphql-api export` and `import`.

Export writes one file per table (NDJSON or CSV) from one consistent snapshot,
streaming. Import checks every row with the services' own rules, upserts in
committed batches that a rerun can resume, and reports each rejected row.
Neither imports GraphQL: this is an operator's tool beside the API, not part of it.
"""
