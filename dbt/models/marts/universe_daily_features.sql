{{ config(materialized='view') }}
-- Cross-sectional z-scores and percentile ranks within each universe. Grain: one row per
-- (universe, symbol, session) for every daily_features row whose symbol was a member of the
-- universe on that session (valid_from <= session < valid_to). A view: membership edits show
-- at once, and it reads only daily_features rows of the same session (no lookahead).
-- Not materialized: read twice (rows and groups), and a reader's filter on session reaches
-- daily_features' session index through both.
with members as not materialized (
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
),

-- Each universe's cross-section per session (macro cross_section_groups).
xs_groups as (
    {{ tradewind.cross_section_groups('members', ['universe', 'session'], var('xs_columns')) }}
)

select
    members.universe,
    members.symbol,
    members.session,
    xs_groups.xs_group_rows as universe_size,
    {{- tradewind.cross_section_columns(var('xs_columns'), 'xs_groups') }}
from members
inner join xs_groups
    on xs_groups.universe = members.universe and xs_groups.session = members.session
