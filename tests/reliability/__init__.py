"""Reliability: the fault matrix, the breaker, load and leaks, bad input, secrets."""
