{#- Fails with every row for which `expression` is not true (false or null). Under a column, the
    expression is written out in full all the same. Restrict it with the test config `where:`.
    Written here because `dbt deps` has no network to fetch dbt_utils. -#}
{% test expression_is_true(model, expression, column_name=none) %}
select *
from {{ model }}
where not coalesce(({{ expression }}), false)
{% endtest %}
