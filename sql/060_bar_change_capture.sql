-- Change capture for the incremental feature build (issue 9: a one-session build within 3 s).
-- int_daily_bars used to find what changed since it was built by hashing every raw bar and every
-- row of itself (per (symbol, year) digests: two full passes per build); its marts did the same
-- against it. Instead:
--   ops.bar_changes      statement-level triggers on raw.bars_daily append, per statement and
--                        symbol, the earliest session whose bar was added, deleted or changed
--                        (old and new rows); symbol null = "anything may have changed" (TRUNCATE,
--                        the capture switched off): the build falls back to the digests.
--   ops.feature_changes  what an int_daily_bars build rewrote (symbol, from_session; symbol null
--                        = a full rebuild), for the marts, written in that build's transaction.
--   ops.feature_watermarks  per consuming model, the snapshot of the log it has consumed, written
--                        in the model's own transaction (a failed build consumes nothing).
-- Entries are ordered by transaction, not by id: an entry is new to a model when its writing
-- transaction is not visible in the model's stored snapshot (pg_visible_in_snapshot). A serial
-- id alone is not enough: a transaction that took id 10 can commit after one that took id 11
-- was already consumed. The id stays as a stable, increasing handle for people reading the log.
-- dbt macros read these (dbt/macros/incremental_bars.sql); the digests remain the fallback
-- whenever the log cannot be trusted (no watermark yet, a null entry, capture not intact).

create table if not exists ops.bar_changes (
    id           bigserial primary key,
    xid          xid8        not null default pg_current_xact_id(),
    symbol       text,
    from_session date,
    op           text        not null,
    logged_at    timestamptz not null default now(),
    constraint bar_changes_whole check ((symbol is null) = (from_session is null))
);
create index if not exists bar_changes_xid on ops.bar_changes (xid);

create table if not exists ops.feature_changes (
    id           bigserial primary key,
    xid          xid8        not null default pg_current_xact_id(),
    relation     text        not null,
    symbol       text,
    from_session date,
    logged_at    timestamptz not null default now(),
    constraint feature_changes_whole check ((symbol is null) = (from_session is null))
);
create index if not exists feature_changes_xid on ops.feature_changes (xid);

create table if not exists ops.feature_watermarks (
    model        text        primary key,
    log          text        not null,  -- the log it consumes: ops.bar_changes, ops.feature_changes
    seen         pg_snapshot not null,
    fingerprint  text,
    set_at       timestamptz not null default now()
);

-- One aggregate over the statement's transition table(s). Updates log only rows whose values
-- changed (the columns int_daily_bars carries, not ingested_at/run_id): an upsert that rewrites a
-- bar with the same values does not widen any build's scope. A changed key logs both the old
-- and the new (symbol, session).
create or replace function ops.log_bar_insert() returns trigger language plpgsql as $$
begin
    insert into ops.bar_changes (symbol, from_session, op)
    select symbol, min(session), 'insert' from tw_new group by symbol;
    return null;
end $$;

create or replace function ops.log_bar_delete() returns trigger language plpgsql as $$
begin
    insert into ops.bar_changes (symbol, from_session, op)
    select symbol, min(session), 'delete' from tw_old group by symbol;
    return null;
end $$;

create or replace function ops.log_bar_update() returns trigger language plpgsql as $$
begin
    insert into ops.bar_changes (symbol, from_session, op)
    select symbol, min(session), 'update'
    from (
        (select source, symbol, session, adjustment, history_version, open, high, low, close,
                volume, vwap, trade_count from tw_new
         except
         select source, symbol, session, adjustment, history_version, open, high, low, close,
                volume, vwap, trade_count from tw_old)
        union all
        (select source, symbol, session, adjustment, history_version, open, high, low, close,
                volume, vwap, trade_count from tw_old
         except
         select source, symbol, session, adjustment, history_version, open, high, low, close,
                volume, vwap, trade_count from tw_new)
    ) as changed
    group by symbol;
    return null;
end $$;

create or replace function ops.log_bar_truncate() returns trigger language plpgsql as $$
begin
    insert into ops.bar_changes (symbol, from_session, op) values (null, null, 'truncate');
    return null;
end $$;

-- The capture is intact when all four triggers exist and fire ALWAYS (also under
-- session_replication_role = replica, where ordinary triggers are skipped) and the DDL guard
-- below is installed: the builds trust the log only then (one definition, read by the dbt macros).
create or replace function ops.bar_capture_intact() returns boolean language sql stable as $$
    select to_regclass('raw.bars_daily') is not null
       and (select count(*) from pg_trigger t
            where t.tgrelid = to_regclass('raw.bars_daily')
              and t.tgname in ('tw_log_bar_insert', 'tw_log_bar_update', 'tw_log_bar_delete',
                               'tw_log_bar_truncate')
              and t.tgenabled = 'A') = 4
       and exists (select from pg_event_trigger e
                   where e.evtname = 'tw_bar_capture_guard' and e.evtenabled <> 'D')
$$;

-- DDL guard: triggers that are disabled (or dropped) and enabled again between two builds look
-- intact at the next build, yet missed what happened meanwhile. So any DDL statement on
-- raw.bars_daily or on one of its triggers (enabling them again included), and any DDL that
-- leaves the capture broken, logs a null entry: the next build takes the digest path once.
-- Never raises: a DDL statement must not fail because of this bookkeeping.
create or replace function ops.guard_bar_capture() returns event_trigger language plpgsql as $$
begin
    if to_regclass('ops.bar_changes') is null then
        return;
    end if;
    if not ops.bar_capture_intact() or exists (
        select from pg_event_trigger_ddl_commands() as c
        where (c.classid = 'pg_class'::regclass and c.objid = to_regclass('raw.bars_daily'))
           or (c.classid = 'pg_trigger'::regclass and exists (
                   select from pg_trigger as t
                   where t.oid = c.objid and t.tgrelid = to_regclass('raw.bars_daily')))
    ) then
        insert into ops.bar_changes (symbol, from_session, op) values (null, null, tg_tag);
    end if;
exception when others then
    raise warning 'tradewind: bar change capture guard: %', sqlerrm;
end $$;

-- The triggers go on plain tables only. On TimescaleDB raw.bars_daily is a hypertable (002
-- timescale): transition tables are unsupported there before TimescaleDB 2.18, and since then
-- still refused for DELETE on compressed chunks (which the restatement path does), and
-- hypertables refuse ENABLE/DISABLE TRIGGER. There the capture stays absent, bar_capture_intact()
-- is false and every build uses the digest path (correct, as before; just not faster).
do $$
declare
    hypertable boolean := false;
begin
    if to_regclass('_timescaledb_catalog.hypertable') is not null then
        execute $q$select exists (select from _timescaledb_catalog.hypertable
                                  where schema_name = 'raw' and table_name = 'bars_daily')$q$
            into hypertable;
    end if;
    if hypertable then
        raise notice 'raw.bars_daily is a hypertable: no change capture (digest path)';
        return;
    end if;
    drop trigger if exists tw_log_bar_insert on raw.bars_daily;
    drop trigger if exists tw_log_bar_update on raw.bars_daily;
    drop trigger if exists tw_log_bar_delete on raw.bars_daily;
    drop trigger if exists tw_log_bar_truncate on raw.bars_daily;
    create trigger tw_log_bar_insert after insert on raw.bars_daily
        referencing new table as tw_new for each statement execute function ops.log_bar_insert();
    create trigger tw_log_bar_update after update on raw.bars_daily
        referencing old table as tw_old new table as tw_new
        for each statement execute function ops.log_bar_update();
    create trigger tw_log_bar_delete after delete on raw.bars_daily
        referencing old table as tw_old for each statement execute function ops.log_bar_delete();
    create trigger tw_log_bar_truncate after truncate on raw.bars_daily
        for each statement execute function ops.log_bar_truncate();
    alter table raw.bars_daily enable always trigger tw_log_bar_insert;
    alter table raw.bars_daily enable always trigger tw_log_bar_update;
    alter table raw.bars_daily enable always trigger tw_log_bar_delete;
    alter table raw.bars_daily enable always trigger tw_log_bar_truncate;
    -- Event triggers need a superuser; without one the guard is absent, bar_capture_intact() is
    -- false and the builds keep the digest path.
    if (select rolsuper from pg_roles where rolname = current_user) then
        drop event trigger if exists tw_bar_capture_guard;
        create event trigger tw_bar_capture_guard on ddl_command_end
            when tag in ('ALTER TABLE', 'DROP TRIGGER', 'ALTER TRIGGER', 'CREATE TRIGGER')
            execute function ops.guard_bar_capture();
    else
        raise notice 'not a superuser: no DDL guard for the bar change capture (digest path)';
    end if;
end $$;
