-- Corporate actions. Grain: (source, symbol, ex_date, action). value: cash per share for
-- 'cash_dividend', new shares per old share for 'split'.
select
    source::text               as source,
    symbol::text               as symbol,
    ex_date::date              as ex_session,
    action::text               as action,
    value::double precision    as value,
    ingested_at::timestamptz   as ingested_at
from {{ source('raw', 'corporate_actions') }}
