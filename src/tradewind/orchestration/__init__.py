"""Airflow pieces shared by dags/ and plugins/ (import-light: nothing here pulls pandas at import).

- ``timetable``: the NYSE trading-session timetable (registered by plugins/nyse_timetable.py);
- ``connections``: Airflow Connections for the warehouse and vendors, settings as fallback;
- ``assets``: the warehouse tables as Airflow Assets;
- ``defaults``: owner, retry policy, pools; ``bars_dag``: the shape of the ingestion DAGs;
- ``runtime``: what the tasks run (imported inside tasks); ``quality_report``: the daily report;
- ``dbt_support``: cosmos glue; ``admin``: pools; ``standalone``: ``make airflow``.
"""
