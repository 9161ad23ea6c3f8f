{#- Fails with every row whose `column_name` is NaN or infinite (nulls pass). PostgreSQL sorts
    NaN above +Infinity and calls NaN = NaN true, so the bounds are what catch it. -#}
{% test is_finite(model, column_name) %}
select *
from {{ model }}
where {{ column_name }} is not null
  and not ({{ column_name }} > '-Infinity'::float8 and {{ column_name }} < 'Infinity'::float8)
{% endtest %}
