"""The two operations the benchmark drives, as a frontend would send them.

The same request bodies go to the GraphQL server (`/graphql`) and to the floor
server (`/nested`, `/fund`): the floor ignores the query text and answers the
same data in the same JSON shape, so the two responses compare equal.
"""

from __future__ import annotations

import base64
import uuid

import orjson

NESTED_FUNDS = 50
NESTED_INVESTMENTS = 20

NESTED_QUERY = """\
query NestedFunds {
  funds(first: 50, orderBy: [{field: NAME, direction: ASC}]) {
    nodes {
      id
      name
      investments(first: 20) {
        nodes {
          id
          amountUsd
          investmentDate
          investor {
            name
            email
          }
        }
      }
    }
  }
}
"""

FUND_QUERY = """\
query FundById($id: ID!) {
  fund(id: $id) {
    id
    name
    vintageYear
    status
    targetSizeUsd
    hardCapUsd
    createdAt
  }
}
"""


def global_id(type_name: str, key: uuid.UUID) -> str:
    """The server's Relay global ID (base64 of `Type:uuid`)."""
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


def nested_body() -> bytes:
    return orjson.dumps({"query": NESTED_QUERY, "operationName": "NestedFunds"})


def fund_body(fund_key: uuid.UUID) -> bytes:
    return orjson.dumps(
        {
            "query": FUND_QUERY,
            "operationName": "FundById",
            "variables": {"id": global_id("Fund", fund_key)},
        }
    )
