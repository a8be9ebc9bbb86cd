"""Who is calling and what they may do: passwords, tokens, API keys, roles, visibility.

Plain Python (no Strawberry, no slice SQL): the GraphQL layer asks it for a
principal and checks roles; repositories ask it which rows a principal may see.
"""
