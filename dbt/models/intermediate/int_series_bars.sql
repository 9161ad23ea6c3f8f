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
-- A join, not a probe per bar: a full build hashes it (~1 s over every bar, where one index probe
-- per bar took ~3 s); a reader's filter on (symbol, session >= x) reaches the bars' index, and
-- int_daily_bars is merge-joined from its (symbol, session) index (all of the symbol's entries:
-- PostgreSQL carries the equality on symbol across the join, not the range on session).
inner join {{ ref('int_daily_bars') }} as d
    on d.symbol = b.symbol and d.session = b.session
