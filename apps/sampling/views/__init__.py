"""Sampling pages (htmx): model endpoints, generation runs, sampling plans."""
