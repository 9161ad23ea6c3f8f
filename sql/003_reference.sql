-- Universe membership with validity dates. Grain: one row per (universe, symbol, valid_from);
-- valid_to is exclusive and null while the symbol is still a member.
create table if not exists ref.universe_members (
    universe    text not null,
    symbol      text not null,
    valid_from  date not null,
    valid_to    date,
    source      text not null default 'tradewind',
    loaded_at   timestamptz not null default now(),
    primary key (universe, symbol, valid_from),
    check (valid_to is null or valid_to > valid_from)
);
