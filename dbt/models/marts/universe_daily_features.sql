{{ config(materialized='view') }}
-- Cross-sectional z-scores and percentile ranks within each universe. Grain: one row per
-- (universe, symbol, session) for every daily_features row whose symbol was a member of the
-- universe on that session (valid_from <= session < valid_to). A view: membership edits show
-- at once, and it reads only daily_features rows of the same session (no lookahead).
with members as (
    select
        u.universe,
        f.symbol,
        f.session
        {%- for col in var('xs_columns') %},
        f.{{ col }}
        {%- endfor %}
    from {{ ref('daily_features') }} as f
    inner join {{ ref('stg_universe_members') }} as u
        on u.symbol = f.symbol
        and f.session >= u.valid_from
        and (u.valid_to is null or f.session < u.valid_to)
)

select
    universe,
    symbol,
    session,
    count(*) over (partition by universe, session) as universe_size
    {%- for col in var('xs_columns') %},
    case when {{ col }} is not null then
        ({{ col }} - avg({{ col }}) over xs) / nullif(stddev_samp({{ col }}) over xs, 0)
    end as xs_z_{{ col }},
    case when {{ col }} is not null then
        percent_rank() over (partition by universe, session, {{ col }} is null order by {{ col }})
    end as xs_rank_{{ col }}
    {%- endfor %}
from members
window xs as (
    partition by universe, session order by symbol
    rows between unbounded preceding and unbounded following
)
