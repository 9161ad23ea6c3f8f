"""Read-only web dashboard over the warehouse (also mounted in the Airflow UI).

Public API:
- ``tradewind.dashboard.app.create_app(url=None, *, settings=None, token=None,
  require_token=True, dependencies=(), now=None, url_factory=None) -> FastAPI``;
- ``tradewind.dashboard.warehouse.ReadOnlyWarehouse(url).snapshot()`` (a read-only ``Reader``);
- ``tradewind.dashboard.queries.<page>.page(reader, …) -> dict`` (overview, signals, portfolio,
  data; ``models.index`` / ``models.detail``): the data of each page, also served as JSON;
- ``tradewind.dashboard.sample.write_sample(db_url, …) -> Sample``: a realistic warehouse (a
  year of paper trading, 50 runs) for tests, benchmarks and trying the pages out.

Nothing heavy is imported here: the CLI imports this package at start-up.
"""
