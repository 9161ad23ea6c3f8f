{#- A layer's +schema is used verbatim (features_staging, features_intermediate, features), not
    appended to the target schema as dbt does by default: analysts' SQL and the RL code name
    `features.daily_features` whatever the profile's schema. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
