"""Fund events as GraphQL subscriptions: `fundEvents` and `investmentCreated`."""
