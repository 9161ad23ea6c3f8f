{#- How many earlier bars of the same symbol a daily_features row can depend on: the longest
    window over returns needs that many returns, i.e. that many bars before the current one
    (windows over levels need one fewer). An incremental run recomputes every row within this
    many bars after a changed bar. -#}
{% macro feature_lookback() -%}
    {%- set windows = var('return_windows') + var('ma_windows')
        + [var('volume_ma_window'), var('rsi_window'), 1] -%}
    {{ return(windows | max) }}
{%- endmacro %}

{#- One price series of one symbol, in the order of the symbol's bars (daily_features' integer
    keys: symbol_no for the symbol, series_no for (source, adjustment, history_version)). -#}
{% macro series_window() -%}
    partition by symbol_no, series_no order by bar_index
{%- endmacro %}

{#- Order of the candidate series of one (symbol, session), best first (var series_choice):
    longest_run - the series with the longest unbroken run of bars ending here, counted up to
                  lookback + 1 bars (so every window of the row is complete), then priority;
    priority    - the highest-priority series that has the previous bar too, then any.
    Priority is series_no: daily_features numbers the series in the order of series_rank
    (var source_priority), source, adjustment, history_version. -#}
{% macro series_choice_order(lookback) -%}
    {%- set choice = var('series_choice') -%}
    {%- if choice == 'longest_run' -%}
        least(run_bars, {{ lookback + 1 }}) desc, series_no
    {%- elif choice == 'priority' -%}
        linked desc, series_no
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

{#- Session settings of the heavy feature models' transactions (pre_hook; `set local` ends with
    the model's transaction): memory for their sorts and hashes (var feature_work_mem; at
    PostgreSQL's default 4 MB the sorts over all bars spill to disk and the bars join becomes a
    nested loop), and shortest-exact float8 text output, which daily_features' exact sums rely on
    (float8 -> text -> numeric; the direct cast would keep only 15 significant digits). -#}
{% macro feature_model_settings() -%}
    set local work_mem = '{{ var("feature_work_mem") }}';
    set local extra_float_digits = 1
{%- endmacro %}

{#- The sum of a running exact sum's last n terms in the series (window by_series): exact,
    because numeric addition is, so it does not depend on where the running sum started (an
    incremental build equals a full refresh). Callers cast it (or an exact expression of it) to
    float8 before any division: the cast rounds the exact value once, whatever numeric scale
    the running sum happened to carry, where a numeric division would round at a scale that
    depends on it. -#}
{% macro trailing_sum(cumulative, n) -%}
    ({{ cumulative }} - coalesce(lag({{ cumulative }}, {{ n }}) over by_series, 0))
{%- endmacro %}

{#- The series holds the symbol's last n bars (and, with a running count, n non-null values
    among them): what count(x) = n over the frame of the symbol's last n bars would test. -#}
{% macro trailing_complete(cumulative_count, n) -%}
    coalesce(lag(bar_index, {{ n - 1 }}) over by_series = bar_index - {{ n - 1 }}, false)
    {%- if cumulative_count is not none %}
    and {{ cumulative_count }} - coalesce(lag({{ cumulative_count }}, {{ n }}) over by_series, 0) = {{ n }}
    {%- endif %}
{%- endmacro %}
