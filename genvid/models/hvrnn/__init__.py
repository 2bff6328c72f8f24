"""Seed 004 §4.4's hierarchical VRNN (model)."""
