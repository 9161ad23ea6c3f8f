-- Benchmark series (issue 9, item 4): index histories such as ^DJI or ^GSPC that a CSV folder
-- holds next to the stocks. Their bars live in raw.bars_daily like any series, so dbt builds
-- their features (and analysts can compare against them), but no universe includes them:
-- the trigger below refuses a membership row for a benchmark symbol, so no agent trades one.
-- Grain: one row per symbol; `source` is the source that first delivered it.
create table if not exists ref.benchmarks (
    symbol       text        primary key,
    name         text,
    source       text        not null,
    first_run_id bigint,
    loaded_at    timestamptz not null default now()
);

create or replace function ref.refuse_benchmark_members() returns trigger
    language plpgsql as $$
begin
    if exists (select 1 from ref.benchmarks b where b.symbol = new.symbol) then
        raise exception 'ref.universe_members: % is a benchmark series (ref.benchmarks), never a universe member',
            new.symbol using errcode = 'check_violation';
    end if;
    return new;
end
$$;

drop trigger if exists universe_members_no_benchmarks on ref.universe_members;
create trigger universe_members_no_benchmarks
    before insert or update of symbol on ref.universe_members
    for each row execute function ref.refuse_benchmark_members();
