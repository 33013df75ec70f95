"""ostium."""
