"""Daily target weights: ``signals.target_weights`` and the Quantopian-style weight files."""
