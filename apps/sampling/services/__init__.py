"""Writes for sampling, one module per noun: endpoints, runs, plans."""
