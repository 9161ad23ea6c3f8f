-- Calendar-aligned daily bars. Grain: one row per symbol per calendar session from the symbol's
-- first bar to the newest session holding any bar. is_missing marks sessions without a bar
-- (prices null): gaps are explicit, nothing is forward-filled.
-- Each symbol's span comes from its first and last bar (index probes: a loose index scan over
-- the symbols, ~100 of them), not from an aggregate over every bar, so a reader that wants a
-- few sessions (the incremental build's data tests: `where session >= ...`) reads a few
-- sessions: the filter reaches the calendar, and the bars are then looked up per grid row.
-- (One pass over all bars for the spans plus a hash join made each of its data tests ~0.8 s
-- on 491k bars for one new session.)
-- session_index rises with session, so a symbol's first bar holds its lowest index.
with recursive symbols as (
    select min(b.symbol) as symbol from {{ ref('int_daily_bars') }} as b
    union all
    select (select min(b.symbol) from {{ ref('int_daily_bars') }} as b where b.symbol > s.symbol)
    from symbols as s
    where s.symbol is not null
),

spans as (
    select s.symbol, f.session_index as first_index, l.session_index as last_of_symbol
    from symbols as s
    cross join lateral (
        select b.session_index from {{ ref('int_daily_bars') }} as b
        where b.symbol = s.symbol order by b.session limit 1
    ) as f
    cross join lateral (
        select b.session_index from {{ ref('int_daily_bars') }} as b
        where b.symbol = s.symbol order by b.session desc limit 1
    ) as l
),

last_index as (
    select max(last_of_symbol) as last_index from spans
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
-- One index probe per grid row (offset 0 keeps it a lateral lookup): a hash join would read
-- every bar whatever few sessions the reader asked for (the planner cannot size a filter like
-- `session >= (select ...)`); reading all of history it costs ~1 us a row more.
left join lateral (
    select b.symbol, b.source, b.open, b.high, b.low, b.close, b.volume
    from {{ ref('int_daily_bars') }} as b
    where b.symbol = g.symbol and b.session = g.session
    offset 0
) as b on true
