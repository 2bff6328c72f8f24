"""Context median: a second reference that learns nothing, the per-pixel median of the context held (family)."""
