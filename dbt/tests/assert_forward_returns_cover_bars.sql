-- forward_returns holds exactly one row per int_daily_bars row.
select coalesce(b.symbol, f.symbol) as symbol, coalesce(b.session, f.session) as session
from (select * from {{ ref('int_daily_bars') }} where {{ tradewind.in_test_scope('session') }}) as b
full outer join (
    select * from {{ ref('forward_returns') }} where {{ tradewind.in_test_scope('session') }}
) as f on f.symbol = b.symbol and f.session = b.session
where b.symbol is null or f.symbol is null
