"""Input side: bundled datasets as raw events, and validation into clean / quarantine."""
