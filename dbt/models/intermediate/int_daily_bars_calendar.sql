-- Calendar-aligned daily bars. Grain: one row per symbol per calendar session from the symbol's
-- first bar to the newest session holding any bar. is_missing marks sessions without a bar
-- (prices null): gaps are explicit, nothing is forward-filled.
with bars as (
    select * from {{ ref('int_daily_bars') }}
),

spans as (
    select symbol, min(session_index) as first_index
    from bars
    group by symbol
),

last_index as (
    select max(session_index) as last_index from bars
),

grid as (
    select sp.symbol, s.session, s.session_index
    from spans as sp
    cross join last_index as l
    inner join {{ ref('int_sessions') }} as s
        on s.session_index between sp.first_index and l.last_index
)

select
    g.symbol,
    g.session,
    g.session_index,
    b.symbol is null as is_missing,
    b.source,
    b.open,
    b.high,
    b.low,
    b.close,
    b.volume
from grid as g
left join bars as b on b.symbol = g.symbol and b.session = g.session
