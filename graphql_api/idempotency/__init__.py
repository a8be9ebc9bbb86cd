"""Idempotency keys: a retried mutation returns its original result and commits nothing new.

How a keyed mutation runs, inside its one transaction:

1. `claim` inserts the key row first (principal, operation, key, hash of the
   canonical request). The unique constraint decides who runs: a parallel
   duplicate's insert waits on PostgreSQL for the first transaction to end
   (SQLite serialises writers anyway), then conflicts with the committed row.
2. The owner runs the mutation and `remember`s what it created in the row;
   both commit together. A refused request rolls back, key row included, so
   only committed results are ever replayed.
3. A duplicate reads the winner's row: the same request hash → replay the
   stored result; a different one → IDEMPOTENCY_KEY_REUSED.

Keys live 24 hours. An expired row is taken over by the next claim with its
key (so expiry holds even before the purge runs), and `purge_expired_keys`,
called from the outbox relay's periodic purge, deletes expired rows.
"""
