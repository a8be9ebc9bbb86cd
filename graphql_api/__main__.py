"""`python -m graphql_api` is the `graphql-api` command."""

from graphql_api.cli import main

main()
