-- A split on a day whose chosen bar is unadjusted ('raw'): the log changes across it measure
-- the split, not the market. Features assume split-adjusted bars; warn so someone reloads them.
{{ config(severity='warn') }}
select b.symbol, b.session, b.source, a.value as split_ratio
from {{ ref('int_daily_bars') }} as b
inner join {{ ref('stg_corporate_actions') }} as a
    on a.symbol = b.symbol
   and a.source = b.source
   and a.ex_session = b.session
   and a.action = 'split'
where b.adjustment = 'raw'
  and a.value <> 1
