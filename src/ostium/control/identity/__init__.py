"""Who is calling and what they may do: request context, RBAC policy, token checks."""
