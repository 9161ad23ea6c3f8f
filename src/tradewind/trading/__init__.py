"""tradewind.trading: rebalancing a broker account to the daily target weights.

- ``planner.plan_rebalance`` (pure): targets + positions + prices + account -> one order per
  symbol, sells first, sized with the environment's cost model;
- ``risk``: the checks that stop a run before anything is sent;
- brokers: ``AlpacaBroker`` (alpaca-py ``TradingClient``, paper by default) and ``SimBroker``
  (fills at the next open from warehouse bars, the env's costs), one interface;
- ``ids.client_order_id``: the deterministic key that makes re-runs idempotent;
- ``service.rebalance / reconcile / status``: the CLI's steps; ``parity``: SimBroker vs env;
- ``demo.demo_rebalance``: the demo's simulated rebalance.

Imports stay light here: the submodules are imported where they are used.
"""

# The broker names a run can choose (CLI, DAG params): one definition, importable while a DAG parses.
BROKERS = ("sim", "alpaca")
