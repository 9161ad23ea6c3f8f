"""The dashboard's SQL: one module per page (overview, models, signals, portfolio, data).

Each module's ``page(reader, …) -> dict`` runs that page's queries in the caller's read-only
snapshot and returns plain JSON-ready data; the same dict feeds the HTML page and ``/api/…``.
Aggregation happens in SQL (window functions, ``array_agg`` grids), so a page costs a few
queries whatever the size of the warehouse.
"""
