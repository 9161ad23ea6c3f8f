{#- How many earlier bars of the same symbol a daily_features row can depend on: the longest
    window over returns needs that many returns, i.e. that many bars before the current one
    (windows over levels need one fewer). An incremental run recomputes every row within this
    many bars after a changed bar. -#}
{% macro feature_lookback() -%}
    {%- set windows = var('return_windows') + var('ma_windows')
        + [var('volume_ma_window'), var('rsi_window'), 1] -%}
    {{ return(windows | max) }}
{%- endmacro %}

{#- A window over the current bar and the n-1 bars before it, in session order. -#}
{% macro trailing(n) -%}
    partition by symbol order by session rows between {{ n - 1 }} preceding and current row
{%- endmacro %}
