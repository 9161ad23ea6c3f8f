{#- The cross-sectional columns of daily_features (per session) and universe_daily_features
    (per universe and session): for each column c of `columns` (var xs_columns), the z-score
    xs_z_c = (c - mean) / sample sd and the percentile rank xs_rank_c = percent_rank of c, both
    among the non-null values of c in the row's group (the rows sharing `keys`); null where c is.

    Computed in one grouping of the rows by `keys` (macro cross_section_groups: each group's row
    count, and per column its mean, sample sd and sorted values), joined back to the rows on the
    keys (macro cross_section_columns): one sort of the rows, where a percent_rank window per
    column sorts all of them once per column (~3x slower over the shared set's 491,668 rows).

    Every aggregate reads its values in value order, so the sums do not depend on the rows' order
    (ties are equal values): a full and an incremental build give the same bits.

    The rank: percent_rank = (values below c) / (n - 1), n the group's non-null values of c, 0
    when n = 1 (ties share the lowest rank). The group keeps its values negated, ascending
    (xs_desc_c); width_bucket(-c, xs_desc_c), a binary search, counts the values >= c, so the
    values below c are n minus that. The columns are finite (their is_finite tests): NaN would
    not sort into its place after negation. -#}
{% macro cross_section_groups(relation, keys, columns) -%}
    select
        {{ keys | join(', ') }},
        count(*) as xs_group_rows
        {%- for c in columns %},
        avg({{ c }} order by {{ c }})            as xs_mean_{{ c }},
        stddev_samp({{ c }} order by {{ c }})    as xs_sd_{{ c }},
        array_agg(-{{ c }} order by -{{ c }}) filter (where {{ c }} is not null) as xs_desc_{{ c }}
        {%- endfor %}
    from {{ relation }}
    group by {{ keys | join(', ') }}
{%- endmacro %}

{#- The row's cross-sectional columns, from its group (`groups`: macro cross_section_groups,
    joined on the keys). -#}
{% macro cross_section_columns(columns, groups) -%}
    {%- for c in columns %}
    case when {{ c }} is not null then
        ({{ c }} - {{ groups }}.xs_mean_{{ c }}) / nullif({{ groups }}.xs_sd_{{ c }}, 0)
    end as xs_z_{{ c }},
    case when {{ c }} is not null then coalesce(
        (cardinality({{ groups }}.xs_desc_{{ c }})
         - width_bucket(-{{ c }}, {{ groups }}.xs_desc_{{ c }}))::double precision
        / nullif(cardinality({{ groups }}.xs_desc_{{ c }}) - 1, 0),
        0)
    end as xs_rank_{{ c }}
    {%- if not loop.last %},{% endif %}
    {%- endfor %}
{%- endmacro %}
