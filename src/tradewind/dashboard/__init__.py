"""Read-only web dashboard over the warehouse (also mounted in the Airflow UI)."""
