"""Events: the outbox, the broker (Redis or in-process), the hub and the feeds.

Plain Python: services record events, the GraphQL layer turns feeds into
subscriptions. The outbox is the source of truth; the broker only rings the bell.
"""
