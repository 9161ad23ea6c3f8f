"""Training sessions: ``tradewind train`` / ``tradewind tune`` and their ``ml.training_runs`` records.

The RL code itself (``tradewind.rl``) never touches the warehouse; this package hands it arrays and
records what it did.
"""
