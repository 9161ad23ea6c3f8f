"""Rebalancing a (paper) account: order planning, risk checks, brokers, reconciliation."""
