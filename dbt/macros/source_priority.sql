{#- Rank of a source name under var('source_priority'): 1 for the first listed, len+1 for any
    source not listed (those tie here and are ordered by name by the caller). -#}
{% macro source_rank(column) -%}
    {%- set priority = var('source_priority') -%}
    case {{ column }}
    {%- for name in priority %}
        when '{{ name }}' then {{ loop.index }}
    {%- endfor %}
        else {{ priority | length + 1 }}
    end
{%- endmacro %}
