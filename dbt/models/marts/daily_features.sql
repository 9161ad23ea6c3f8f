{{ config(
    materialized='incremental',
    unique_key='session',
    incremental_strategy='session_rows',
    on_schema_change='fail',
    indexes=[{'columns': ['symbol', 'session'], 'unique': true}, {'columns': ['session']}],
    pre_hook=["{{ tradewind.feature_model_settings() }}",
              "{{ tradewind.create_changed_keys(ref('int_daily_bars'), ['bars_digest', 'gap_sessions']) }}"],
) }}
{#-
Daily features. Grain: one row per symbol per session on which the symbol has a bar.

Time rule: a row at session T uses bars of sessions <= T only (the symbol's own bars up to T,
and other symbols' bars at T for the cross-sectional columns). "Previous" means the symbol's
previous bar; gap_sessions says how many calendar sessions it skipped. Windows count bars.

One basis per return: every log change and window is computed within one price series
(source, adjustment, history_version) from that series' own bars: a change needs the series'
bars at the previous bar and this one, a window of n needs the series' bar at each of the
symbol's last n bars, else it is null. Each row then takes all its features from one series
(var series_choice, macro series_choice_order), named in series_source/_adjustment/
_history_version; the price columns (source ... volume) stay the session's price bar.

Incremental runs (keyed on session): every (symbol, session) is compared with the copy this
table was built from (bars_digest covers every series' bar, plus gap_sessions). A changed, new
or deleted bar affects the rows of its symbol from that bar to `lookback` bars later; those
rows' sessions are recomputed whole (the cross-sectional columns depend on every symbol of the
session) and replace the old rows. The same rows as a full refresh, bit for bit: the rolling
windows are differences of exact numeric running sums (the same whatever bar the scope starts
at; rounded to float8 once, macro trailing_sum) and every other aggregate runs over a bounded frame in a
fixed row order. Running sums rather than one moving frame per window: PostgreSQL re-aggregates
a float8 frame on every row, and each window frame is a pass over the rows of its own.
-#}
{%- set return_windows = var('return_windows') -%}
{%- set ma_windows = var('ma_windows') -%}
{%- set volume_window = var('volume_ma_window') -%}
{%- set rsi_window = var('rsi_window') -%}
{%- set lookback = tradewind.feature_lookback() -%}
{#- What each row reports besides its features, carried by name from the scope to the row:
    its series and the session's price bar. -#}
{%- set reported = ['symbol', 'session', 'source', 'adjustment', 'history_version', 'prev_session',
                    'gap_sessions', 'bars_digest', 'price_source', 'price_adjustment',
                    'source_changed', 'price_open', 'price_high', 'price_low', 'price_close',
                    'price_volume'] -%}
{#- The log changes (CTE changes), carried by name into the row. -#}
{%- set log_changes = ['lr_open', 'lr_high', 'lr_low', 'lr_close', 'lr_volume', 'overnight_lr',
                       'intraday_lr', 'range_lr'] -%}
{#- Referenced outside the is_incremental() branch so dbt records the dependency at parse time. -#}
{%- set price_bars = ref('int_daily_bars') -%}

with bars as (
    select * from {{ ref('int_series_bars') }}
),

{% if is_incremental() %}
-- Every (symbol, session) whose price bars (bars_digest covers every series) or gap differ
-- from the copy this table was built from: new, changed or deleted (pre_hook: macro
-- create_changed_keys).
changed as (
    select symbol, session from {{ tradewind.changed_keys_table() }}
),

first_changed as (
    select symbol, min(session) as session
    from changed
    group by symbol
),

-- The rows of each changed symbol from its first change on: the only ones a change can reach.
diff as (
    select
        coalesce(b.symbol, t.symbol)   as symbol,
        coalesce(b.session, t.session) as session,
        b.bar_index,
        c.symbol is not null           as is_changed
    from (
        select b.symbol, b.session, b.bar_index
        from first_changed as f
        cross join lateral (
            select b.symbol, b.session, b.bar_index from {{ price_bars }} as b
            where b.symbol = f.symbol and b.session >= f.session
            offset 0  -- an index range scan per symbol, not a join over every bar
        ) as b
    ) as b
    full outer join (
        select t.symbol, t.session
        from first_changed as f
        cross join lateral (
            select t.symbol, t.session from {{ this }} as t
            where t.symbol = f.symbol and t.session >= f.session
            offset 0
        ) as t
    ) as t on t.symbol = b.symbol and t.session = b.session
    left join changed as c
        on c.symbol = coalesce(b.symbol, t.symbol) and c.session = coalesce(b.session, t.session)
),

-- A deleted bar (bar_index null) sits half a bar after the bar that preceded it: the bars that
-- had it in their window are the next `lookback` ones, as for a changed bar they are the bar
-- itself and the `lookback` after it. The preceding bar can lie before the symbol's first
-- change: then it is looked up.
positioned as (
    select
        symbol,
        session,
        bar_index,
        is_changed,
        coalesce(
            bar_index::numeric,
            coalesce(
                max(bar_index) over (
                    partition by symbol order by session rows between unbounded preceding and current row
                ),
                (select max(p.bar_index) from {{ price_bars }} as p
                 where p.symbol = diff.symbol and p.session < diff.session),
                0
            ) + 0.5
        ) as position
    from diff
),

flagged as (
    select
        session,
        bar_index,
        is_changed,
        bool_or(is_changed) over (
            partition by symbol order by position
            range between {{ lookback }} preceding and current row
        ) as is_affected
    from positioned
),

affected_sessions as (
    select distinct session
    from flagged
    where is_affected and (bar_index is not null or is_changed)
),

-- Each symbol present in an affected session, with enough earlier bars for its windows: from
-- the bar `lookback` bars before its first affected one (all of them when it has fewer).
scope_start as (
    select b.symbol, min(b.session) as first_affected
    from {{ price_bars }} as b
    inner join affected_sessions as a on a.session = b.session
    group by b.symbol
),

scope_from as (
    select s.symbol, coalesce(f.session, '-infinity') as from_session
    from scope_start as s
    left join lateral (
        select p.session from {{ price_bars }} as p
        where p.symbol = s.symbol and p.session <= s.first_affected
        order by p.session desc
        offset {{ lookback }} limit 1
    ) as f on true
),

scope as (
    select b.*
    from scope_from as s
    cross join lateral (
        select * from bars as b
        where b.symbol = s.symbol and b.session >= s.from_session
        offset 0  -- index range scans per symbol, not a join of every series bar
    ) as b
),
{% else %}
scope as (
    select * from bars
),
{% endif %}

-- Integer keys for the series window: sorting every bar on the text keys (symbol, source,
-- adjustment) took ~2 s more than on integers. symbol_no follows symbol order; series_no follows
-- the series choice's tie-break (source_priority, then the names: macro series_choice_order).
scope_symbols as (
    select symbol, row_number() over (order by symbol) as symbol_no
    from (select distinct symbol from scope) as s
),

scope_series as (
    select
        source,
        adjustment,
        history_version,
        row_number() over (order by series_rank, source, adjustment, history_version) as series_no
    from (select distinct series_rank, source, adjustment, history_version from scope) as s
),

-- Only what the windows read, plus what the row reports (price bar, series, digest): every
-- column here is carried through each window pass and sort below.
keyed as (
    select
        y.symbol_no,
        k.series_no,
        scope.bar_index,
        scope.open,
        scope.high,
        scope.low,
        scope.close,
        scope.volume
        {%- for col in reported %},
        scope.{{ col }}
        {%- endfor %}
    from scope
    inner join scope_symbols as y on y.symbol = scope.symbol
    inner join scope_series as k
        on k.source = scope.source
        and k.adjustment = scope.adjustment
        and k.history_version = scope.history_version
),

-- The series' previous bar, when it is the symbol's previous bar.
linked as (
    select
        keyed.*,
        coalesce(lag(bar_index) over by_series = bar_index - 1, false) as linked,
        lag(open) over by_series   as prev_open,
        lag(high) over by_series   as prev_high,
        lag(low) over by_series    as prev_low,
        lag(close) over by_series  as prev_close,
        lag(volume) over by_series as prev_volume
        {%- for n in return_windows %},
        case when lag(bar_index, {{ n }}) over by_series = bar_index - {{ n }}
            then lag(close, {{ n }}) over by_series end as close_back_{{ n }}
        {%- endfor %}
    from keyed
    window by_series as ({{ tradewind.series_window() }})
),

changes as (
    select
        linked.*,
        -- ln(x_T / x_prev) = ln x_T - ln x_prev, taken as the log of the ratio: no
        -- cancellation between two large logarithms, so small moves keep full precision.
        case when linked then ln(open / prev_open) end      as lr_open,
        case when linked then ln(high / prev_high) end      as lr_high,
        case when linked then ln(low / prev_low) end        as lr_low,
        case when linked then ln(close / prev_close) end    as lr_close,
        -- Zero volume (stale prints) has no logarithm: null, not an infinite change.
        case when linked and volume > 0 and prev_volume > 0
            then ln(volume / prev_volume) end               as lr_volume,
        case when linked then ln(open / prev_close) end     as overnight_lr,
        ln(close / open)                                    as intraday_lr,
        ln(high / low)                                      as range_lr
    from linked
),

-- Running exact sums over the series (numeric: see macro trailing_sum): the rolling windows
-- below are differences of them, so every window costs the same two lags, whatever its length.
-- Each float8 enters as its shortest round-trip decimal (text; extra_float_digits pinned by the
-- pre_hook), so only the final cast back to float8 rounds.
exact as (
    select
        changes.*,
        lr_close::text::numeric                             as lr_close_x,
        close::text::numeric                                as close_x,
        volume::text::numeric                               as volume_x
    from changes
),

cumulative as (
    select
        exact.*,
        -- Start of the series' current run of consecutive bars (integers: exact in any scope;
        -- the choice caps the run at lookback + 1, which an incremental scope always covers).
        max(case when not linked then bar_index end) over upto as run_start,
        count(lr_close) over upto                           as cum_n_lr_close,
        count(volume) over upto                             as cum_n_volume,
        sum(lr_close_x) over upto                           as cum_lr_close,
        sum(lr_close_x * lr_close_x) over upto              as cum_lr_close_sq,
        -- Gains need no sum of their own: the sum of max(x, 0) is (sum x + sum |x|) / 2.
        sum(abs(lr_close_x)) over upto                      as cum_lr_close_abs,
        sum(close_x) over upto                              as cum_close,
        sum(volume_x) over upto                             as cum_volume
    from exact
    window upto as ({{ tradewind.series_window() }} rows between unbounded preceding and current row)
),

-- Each window's exact sums and whether it is full, once (an expression repeated in a select
-- is evaluated each time; repeated window functions are not).
windows as (
    select
        cumulative.*,
        bar_index - run_start + 1                           as run_bars,
        {%- for n in return_windows %}
        {{ tradewind.trailing_sum('cum_lr_close', n) }}     as sum_lr_close_{{ n }},
        {{ tradewind.trailing_sum('cum_lr_close_sq', n) }}  as sum_lr_close_sq_{{ n }},
        {{ tradewind.trailing_complete('cum_n_lr_close', n) }} as full_lr_close_{{ n }},
        {%- endfor %}
        {%- for n in ma_windows %}
        {{ tradewind.trailing_sum('cum_close', n) }}        as sum_close_{{ n }},
        {{ tradewind.trailing_complete(none, n) }}          as full_bars_{{ n }},
        {%- endfor %}
        {{ tradewind.trailing_sum('cum_volume', volume_window) }} as volume_sum,
        {{ tradewind.trailing_complete('cum_n_volume', volume_window) }} as volume_full,
        {{ tradewind.trailing_sum('cum_lr_close', rsi_window) }} as rsi_sum,
        {{ tradewind.trailing_sum('cum_lr_close_abs', rsi_window) }} as rsi_moves,
        {{ tradewind.trailing_complete('cum_n_lr_close', rsi_window) }} as rsi_full
    from cumulative
    window by_series as ({{ tradewind.series_window() }})
),

-- The row's columns only: the sort into (symbol, session) below carries nothing else.
rolling as (
    select
        symbol_no,
        series_no,
        bar_index,
        run_bars,
        linked,
        {%- for col in reported + log_changes %}
        {{ col }},
        {%- endfor %}
        {%- for n in return_windows %}
        -- The mean of the last n log changes telescopes to ln(close_T / close_{T-n}) / n; taken
        -- that way it is exact, so equal price ratios give equal means (and equal ranks).
        ln(close / close_back_{{ n }}) / {{ n }}            as ret_mean_{{ n }},
        -- Sample standard deviation from the window's exact sums: the numerator
        -- n*sum(x^2) - sum(x)^2 is exact (and so never negative); float8 from there on.
        -- A window of one return has no sample deviation (null, as pandas' NaN).
        {%- if n > 1 %}
        case when full_lr_close_{{ n }} then sqrt((
            {{ n }} * sum_lr_close_sq_{{ n }} - sum_lr_close_{{ n }} * sum_lr_close_{{ n }}
        )::double precision / {{ n * (n - 1) }}) end        as vol_{{ n }},
        {%- else %}
        null::double precision                              as vol_{{ n }},
        {%- endif %}
        {%- endfor %}
        {%- for n in ma_windows %}
        case when full_bars_{{ n }}
            then close / (sum_close_{{ n }}::double precision / {{ n }})
        end                                                 as ma_ratio_{{ n }},
        {%- endfor %}
        case when volume_full and volume_sum > 0
            then volume / (volume_sum::double precision / {{ volume_window }})
        end                                                 as volume_ratio_{{ volume_window }},
        -- RSI over log changes with simple sums (Cutler): a finite window, so a bar affects
        -- rsi only `rsi_window` bars ahead. 50 when the window holds no change at all. The
        -- ratio of the exact sums 2 * gains = sum + moves and 2 * moves is taken in float8: the
        -- cast is monotone, so gains <= moves holds after it, and rsi <= 100 exactly.
        case when rsi_full then
            case when rsi_moves = 0 then 50.0
                else 100.0 * ((rsi_sum + rsi_moves)::double precision
                              / (2 * rsi_moves)::double precision)
            end
        end                                                 as rsi_{{ rsi_window }}
    from windows
),

-- One series per (symbol, session): all of a row's features come from it.
chosen as (
    select distinct on (symbol_no, bar_index) *
    from rolling
    {%- if is_incremental() %}
    where session in (select session from affected_sessions)
    {%- endif %}
    order by symbol_no, bar_index, {{ tradewind.series_choice_order(lookback) }}
),

in_scope as (
    select
        symbol,
        session,
        prev_session,
        gap_sessions,
        price_source        as source,
        price_adjustment    as adjustment,
        source_changed,
        price_open          as open,
        price_high          as high,
        price_low           as low,
        price_close         as close,
        price_volume        as volume,
        source              as series_source,
        adjustment          as series_adjustment,
        history_version     as series_history_version,
        {%- for col in log_changes %}
        {{ col }},
        {%- endfor %}
        {%- for n in return_windows %}
        ret_mean_{{ n }},
        vol_{{ n }},
        {%- endfor %}
        {%- for n in ma_windows %}
        ma_ratio_{{ n }},
        {%- endfor %}
        volume_ratio_{{ volume_window }},
        rsi_{{ rsi_window }},
        bars_digest
    from chosen
),

-- Each session's cross-section (macro cross_section_groups): a session is always whole here.
xs_groups as (
    {{ tradewind.cross_section_groups('in_scope', ['session'], var('xs_columns')) }}
)

select
    in_scope.*,
    {{- tradewind.cross_section_columns(var('xs_columns'), 'xs_groups') }}
from in_scope
inner join xs_groups on xs_groups.session = in_scope.session
