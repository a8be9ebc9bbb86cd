"""GraphQL over HTTP and WebSocket: the transport in front of the schema."""
