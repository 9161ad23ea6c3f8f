-- Every bar of every price series, placed on its symbol's bar sequence. Grain: (source, symbol,
-- session), bars on NYSE sessions only. A price series is (source, adjustment,
-- history_version): returns are computed only between two bars of one series (design: "Price
-- series: one basis per return"); see daily_features and forward_returns.
-- bar_index, prev_session and gap_sessions are the symbol's (int_daily_bars: counted over the
-- bars of every source), so "the previous bar" means the same session whichever series is read;
-- price_* and source_changed describe the session's price bar (the preferred source's).
-- A view: the marts read it once per run, and an incremental run reads only a few bars of it.
select
    b.symbol,
    b.session,
    b.source,
    b.adjustment,
    b.history_version,
    {{ tradewind.source_rank('b.source') }}  as series_rank,
    b.open,
    b.high,
    b.low,
    b.close,
    b.volume,
    d.bar_index,
    d.prev_session,
    d.gap_sessions,
    d.bars_digest,
    d.source = b.source                      as is_price_bar,
    d.source                                 as price_source,
    d.adjustment                             as price_adjustment,
    d.source_changed,
    d.open                                   as price_open,
    d.high                                   as price_high,
    d.low                                    as price_low,
    d.close                                  as price_close,
    d.volume                                 as price_volume
from {{ ref('stg_bars_daily') }} as b
-- One unique-index probe per bar (lateral, offset 0: never a join): a reader's filter on
-- (symbol, session >= x) reaches the bars but cannot reach int_daily_bars through a join's
-- equality (PostgreSQL carries equalities, not ranges), and as a merge or hash join every
-- bar of the symbol was read for the ~60 an incremental daily_features run needs (~0.3 s).
cross join lateral (
    select d.* from {{ ref('int_daily_bars') }} as d
    where d.symbol = b.symbol and d.session = b.session
    offset 0
) as d
