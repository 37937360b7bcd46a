"""Networks (flax.linen)."""
