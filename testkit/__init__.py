"""Real servers that tests and benchmarks start for themselves (not part of the product)."""
