-- daily_features holds exactly one row per int_daily_bars row: an incremental run that missed a
-- new bar, or kept the row of a deleted one, fails here.
select coalesce(b.symbol, f.symbol) as symbol, coalesce(b.session, f.session) as session,
       b.symbol is null as only_in_features
from (select * from {{ ref('int_daily_bars') }} where {{ tradewind.in_test_scope('session') }}) as b
full outer join (
    select * from {{ ref('daily_features') }} where {{ tradewind.in_test_scope('session') }}
) as f on f.symbol = b.symbol and f.session = b.session
where b.symbol is null or f.symbol is null
