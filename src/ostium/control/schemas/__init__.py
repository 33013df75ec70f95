"""Wire models (pydantic) for request bodies: one per resource family."""
