-- Universe membership. Grain: (universe, symbol, valid_from); valid_to exclusive, null = open.
select
    universe::text     as universe,
    symbol::text       as symbol,
    valid_from::date   as valid_from,
    valid_to::date     as valid_to
from {{ source('ref', 'universe_members') }}
