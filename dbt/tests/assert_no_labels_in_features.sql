-- Observations must not carry forward-looking columns: features.daily_features may hold no
-- column of forward_returns other than the shared keys and the bar of T itself (its open and
-- the fingerprint of the session's bars).
{{ config(severity='error') }}
select f.column_name
from information_schema.columns as f
inner join information_schema.columns as l
    on l.column_name = f.column_name
   and l.table_schema = '{{ ref("forward_returns").schema }}'
   and l.table_name = '{{ ref("forward_returns").identifier }}'
where f.table_schema = '{{ ref("daily_features").schema }}'
  and f.table_name = '{{ ref("daily_features").identifier }}'
  and f.column_name not in ('symbol', 'session', 'open', 'bars_digest')
