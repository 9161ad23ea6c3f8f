{#- How many earlier bars of the same symbol a daily_features row can depend on: the longest
    window over returns needs that many returns, i.e. that many bars before the current one
    (windows over levels need one fewer). An incremental run recomputes every row within this
    many bars after a changed bar. -#}
{% macro feature_lookback() -%}
    {%- set windows = var('return_windows') + var('ma_windows')
        + [var('volume_ma_window'), var('rsi_window'), 1] -%}
    {{ return(windows | max) }}
{%- endmacro %}

{#- One price series of one symbol, in the order of the symbol's bars. -#}
{% macro series_window() -%}
    partition by symbol, source, adjustment, history_version order by bar_index
{%- endmacro %}

{#- The current bar and the n-1 bars of the symbol before it, within one price series: a bar
    the series lacks in that span is simply absent, so callers check count(...) = n. -#}
{% macro trailing(n) -%}
    {{ tradewind.series_window() }} range between {{ n - 1 }} preceding and current row
{%- endmacro %}

{#- Order of the candidate series of one (symbol, session), best first (var series_choice):
    longest_run - the series with the longest unbroken run of bars ending here, counted up to
                  lookback + 1 bars (so every window of the row is complete), then priority;
    priority    - the highest-priority series that has the previous bar too, then any. -#}
{% macro series_choice_order(lookback) -%}
    {%- set choice = var('series_choice') -%}
    {%- if choice == 'longest_run' -%}
        least(run_bars, {{ lookback + 1 }}) desc, series_rank, source, adjustment, history_version
    {%- elif choice == 'priority' -%}
        linked desc, series_rank, source, adjustment, history_version
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "var series_choice must be 'longest_run' or 'priority', not '" ~ choice ~ "'") }}
    {%- endif -%}
{%- endmacro %}

{#- The sessions the data tests read: on an incremental `tradewind features build`, the ones it
    can have rewritten (ops.feature_test_scope, set by the runner, migration 050); on any other
    build every session ('-infinity'). dbt_project.yml applies the same predicate to the
    session-keyed generic tests as their `where`. -#}
{% macro in_test_scope(column) -%}
    {{ column }} >= (select tests_from from ops.feature_test_scope)
{%- endmacro %}
