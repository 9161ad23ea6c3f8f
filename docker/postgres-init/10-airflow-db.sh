#!/usr/bin/env bash
# Runs once, when the timescaledb container initialises an empty data volume (the image runs
# /docker-entrypoint-initdb.d/* in order, after its own 000_install_timescaledb.sh). Creates
# Airflow's metadata database and role, separate from the warehouse: Airflow's migrations and
# tradewind's never touch each other's tables, and the warehouse role cannot read Airflow's.
set -euo pipefail

: "${AIRFLOW_DB_NAME:?AIRFLOW_DB_NAME is not set}"
: "${AIRFLOW_DB_USER:?AIRFLOW_DB_USER is not set}"
: "${AIRFLOW_DB_PASSWORD:?AIRFLOW_DB_PASSWORD is not set}"

# psql variables (:'x' literal, :"x" identifier) quote the values, so passwords with quotes work.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v db="$AIRFLOW_DB_NAME" -v role="$AIRFLOW_DB_USER" -v pw="$AIRFLOW_DB_PASSWORD" <<'SQL'
select format('create role %I login password %L', :'role', :'pw')
where not exists (select 1 from pg_roles where rolname = :'role') \gexec
-- template0: Airflow's database gets no TimescaleDB extension (the image adds it to template1).
select format('create database %I owner %I template template0 encoding %L', :'db', :'role', 'UTF8')
where not exists (select 1 from pg_database where datname = :'db') \gexec
select format('revoke all on database %I from public', :'db') \gexec
SQL
