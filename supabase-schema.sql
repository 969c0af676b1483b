-- =============================================================================================
-- Image studio: the whole Supabase side (tables, row-level security, queue functions, storage).
--
-- Run it in the Supabase SQL editor, or with psql:
--     psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f supabase-schema.sql
-- It is idempotent: running it again (e.g. after an upgrade) changes nothing that exists and
-- replaces functions and policies with their current definitions.
--
-- Who may do what:
--   anon           nothing at all.
--   authenticated  reads its own jobs while the account is enabled (reviewers and admins:
--                  every job), without the columns naming the reviewer (reviewed_by,
--                  review_note: reviewers get them through get_job / list_jobs), and calls the
--                  doors submit_jobs / get_job / list_jobs / cancel_job / set_review /
--                  queue_positions. There is no direct INSERT, UPDATE or DELETE on jobs: a
--                  direct insert would skip the rate limit, a direct update could rewrite a lease
--                  or a result, and a direct delete would orphan the job's stored images (the
--                  server deletes the files, then the row, with the service role).
--   service_role   (the server's worker, sweeper and account code) everything; it bypasses RLS.
-- Functions run as the caller (security invoker) unless they must see or change rows the
-- caller cannot; those are security definer, check the caller themselves, and pin search_path.
-- =============================================================================================

begin;

-- ---- server settings ------------------------------------------------------------------------
-- One row, written by the server (service role) from its settings. Functions called with a
-- user's JWT take their limits from here, so a client cannot raise its own rate limit.
create table if not exists public.app_config (
    id boolean primary key default true check (id),
    admin_emails text[] not null default '{}',
    rate_limit_per_minute integer check (rate_limit_per_minute > 0),
    daily_quota integer check (daily_quota > 0),
    updated_at timestamptz not null default now()
);
alter table public.app_config add column if not exists
    max_attempts integer check (max_attempts between 1 and 100);
comment on table public.app_config is
    'Server settings for SQL: ADMIN_EMAILS, RATE_LIMIT_PER_MINUTE, DAILY_QUOTA, MAX_ATTEMPTS. '
    'Service role only.';
insert into public.app_config (id) values (true) on conflict (id) do nothing;

-- ---- profiles -------------------------------------------------------------------------------
create table if not exists public.profiles (
    id uuid primary key references auth.users (id) on delete cascade,
    email text not null default '',
    role text not null default 'user' check (role in ('user', 'reviewer', 'admin')),
    disabled boolean not null default false,
    daily_quota integer check (daily_quota is null or daily_quota >= 0),
    created_at timestamptz not null default now()
);
comment on table public.profiles is
    'One row per auth.users row (made by a trigger). Roles change only through the server.';
create index if not exists profiles_email_idx on public.profiles (lower(email));

-- ---- jobs (docs/ARCHITECTURE.md: the state machine) ---------------------------------------------
create table if not exists public.jobs (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references auth.users (id) on delete cascade,
    provider text not null check (char_length(provider) between 1 and 50),
    model text not null check (char_length(model) between 1 and 200),
    kind text not null default 'generate' check (kind in ('generate', 'edit')),
    prompt text not null,
    params jsonb not null default '{}' check (jsonb_typeof(params) = 'object'),
    input_path text,
    status text not null default 'queued'
        check (status in ('queued', 'processing', 'done', 'failed', 'canceled')),
    attempts integer not null default 0 check (attempts >= 0),
    max_attempts integer not null default 4 check (max_attempts between 1 and 100),
    run_after timestamptz not null default now(),
    lease_owner text,
    lease_expires_at timestamptz,
    error_code text,
    error_message text,
    result_path text,
    thumb_path text,
    result_meta jsonb not null default '{}' check (jsonb_typeof(result_meta) = 'object'),
    review_status text not null default 'unreviewed'
        check (review_status in ('unreviewed', 'approved', 'rejected', 'flagged')),
    review_note text,
    reviewed_by uuid,
    reviewed_at timestamptz,
    batch_id uuid,
    idempotency_key text check (char_length(idempotency_key) between 1 and 200),
    created_at timestamptz not null default now(),
    started_at timestamptz,
    finished_at timestamptz,
    updated_at timestamptz not null default now(),
    -- a job being processed always has a lease; nothing else does
    constraint jobs_lease_only_while_processing check (
        (status = 'processing') = (lease_owner is not null and lease_expires_at is not null)
    )
);
comment on table public.jobs is 'One image request each; the table is also the work queue.';

-- Prompts up to the largest provider limit (OpenAI and Gemini take 32,000 characters). Kept as
-- a named constraint so a re-run also widens the 20,000 limit of earlier versions.
alter table public.jobs drop constraint if exists jobs_prompt_check;
alter table public.jobs add constraint jobs_prompt_check check (char_length(prompt) <= 32000);

create index if not exists jobs_history_idx on public.jobs (user_id, created_at desc, id desc);
create index if not exists jobs_all_history_idx on public.jobs (created_at desc, id desc);
create index if not exists jobs_claim_idx on public.jobs (status, run_after);
create index if not exists jobs_sweeper_idx on public.jobs (status, finished_at);
create index if not exists jobs_review_idx on public.jobs (review_status, created_at);
create index if not exists jobs_batch_idx on public.jobs (batch_id);
create index if not exists jobs_lease_idx on public.jobs (lease_expires_at)
    where status = 'processing';

-- Submissions are logged apart from jobs: deleting jobs frees no rate-limit or quota room.
create table if not exists public.submissions (
    user_id uuid not null references auth.users (id) on delete cascade,
    created_at timestamptz not null,
    count integer not null check (count > 0)
);
create index if not exists submissions_user_idx on public.submissions (user_id, created_at);

-- The batch an idempotency key created (the key becomes free again if the batch is deleted).
create table if not exists public.idempotency_keys (
    user_id uuid not null references auth.users (id) on delete cascade,
    key text not null,
    batch_id uuid not null,
    created_at timestamptz not null default now(),
    primary key (user_id, key)
);

-- ---- server-side session and token tables (service role only) -------------------------------
-- The browser cookie holds an opaque random token; only its sha256 is stored, next to the
-- Supabase refresh token it stands for, so the refresh token never leaves the server.
create table if not exists public.sessions (
    token_hash text primary key check (token_hash ~ '^[0-9a-f]{64}$'),
    user_id uuid not null references auth.users (id) on delete cascade,
    refresh_token text not null,
    access_token text,
    access_expires_at timestamptz,
    created_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now()
);
create index if not exists sessions_user_idx on public.sessions (user_id);

-- ---- session list (issue #16: change password and sessions) ---------------------------------
-- An opaque id per session (the Account page revokes by it; never the secret), the browser's
-- User-Agent captured at sign-in. last_seen_at above is recorded at most once a minute.
alter table public.sessions add column if not exists id uuid not null default gen_random_uuid();
alter table public.sessions add column if not exists user_agent text
    check (char_length(user_agent) <= 512);
create unique index if not exists sessions_id_idx on public.sessions (id);

-- Personal API tokens (REST API), stored as sha256 hashes.
create table if not exists public.api_tokens (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references auth.users (id) on delete cascade,
    name text not null check (char_length(name) between 1 and 100),
    token_hash text not null unique check (token_hash ~ '^[0-9a-f]{64}$'),
    created_at timestamptz not null default now(),
    last_used_at timestamptz,
    revoked boolean not null default false
);
create index if not exists api_tokens_user_idx on public.api_tokens (user_id, created_at);

-- Failed sign-ins per email: five in 15 minutes lock that email for 5 minutes (on top of
-- Supabase Auth's own per-IP limits), so passwords cannot be guessed one account at a time.
create table if not exists public.sign_in_failures (
    email text not null,
    at timestamptz not null default now()
);
create index if not exists sign_in_failures_email_idx on public.sign_in_failures (email, at);
-- each row is one attempt, recorded before its password is checked (begin_sign_in)
alter table public.sign_in_failures add column if not exists
    id uuid not null default gen_random_uuid();

-- Named singleton leases (the sweeper), so one process at a time does the job.
create table if not exists public.leases (
    name text primary key,
    owner text not null,
    expires_at timestamptz not null
);

-- Purge runs (the sweeper, manual sweeps, admin purges) for the admin page.
create table if not exists public.sweep_runs (
    id uuid primary key,
    trigger text not null,
    owner text not null,
    started_at timestamptz not null,
    finished_at timestamptz not null,
    deleted_jobs integer not null default 0,
    deleted_bytes bigint not null default 0,
    kept_jobs integer not null default 0,
    errors text[] not null default '{}'
);
create index if not exists sweep_runs_started_idx on public.sweep_runs (started_at desc);

-- ---- role helpers (used by policies) --------------------------------------------------------
create or replace function public.is_reviewer() returns boolean
    language sql stable security definer set search_path = ''
as $$
    select exists (
        select 1 from public.profiles p
        where p.id = auth.uid() and p.role in ('reviewer', 'admin') and not p.disabled
    )
$$;

create or replace function public.is_admin() returns boolean
    language sql stable security definer set search_path = ''
as $$
    select exists (
        select 1 from public.profiles p
        where p.id = auth.uid() and p.role = 'admin' and not p.disabled
    )
$$;

-- The caller is the server: the request runs as the service role, or as a role that bypasses
-- row-level security anyway (the owner or a superuser in psql, a migration, the SQL editor).
-- Decided by the database role, never by a JWT claim (a claim is only what the token says; the
-- role is what the grants and policies obey). PostgREST logs in as `authenticator` and switches
-- to the token's role with `set local role`: that is the `role` setting, which stays the
-- caller's inside security definer functions (where current_user is the owner). Without a
-- `set role`, the login role is the caller.
create or replace function public.is_service() returns boolean
    language sql stable set search_path = ''
as $$
    select coalesce((
        select r.rolname = 'service_role' or r.rolsuper or r.rolbypassrls
        from pg_catalog.pg_roles r
        where r.rolname = coalesce(nullif(pg_catalog.current_setting('role'), 'none'),
                                   session_user::text)), false)
$$;

-- The signed-in caller has a profile and is not disabled.
create or replace function public.is_active_user() returns boolean
    language sql stable security definer set search_path = ''
as $$
    select exists (
        select 1 from public.profiles p where p.id = auth.uid() and not p.disabled
    )
$$;

-- The caller sees every job with its review identity: the server (is_service: psql as the
-- owner or a migration counts too), enabled reviewers and admins (their profile).
create or replace function public.sees_all_jobs() returns boolean
    language sql stable set search_path = ''
as $$
    select public.is_service() or public.is_reviewer()
$$;

-- A job row as the caller may see it: without who reviewed it, and the reviewer's note,
-- unless p_full (used as `cross join lateral public.job_as_seen(j, v_full) m`).
create or replace function public.job_as_seen(p_job public.jobs, p_full boolean)
returns public.jobs
    language sql stable set search_path = ''
as $$
    select case when p_full then p_job
                else jsonb_populate_record(p_job, '{"reviewed_by": null, "review_note": null}')
           end
$$;

-- ---- profiles from auth.users ---------------------------------------------------------------
-- An account becomes admin once its email is confirmed, if it is the first confirmed account
-- (and no admin exists) or its email is in app_config.admin_emails. Unconfirmed, nobody can
-- claim an address (or the first seat) they do not own. With email confirmation off, Supabase
-- sets email_confirmed_at at sign-up, so the promotion happens on insert.
create or replace function public.should_be_admin(p_user auth.users) returns boolean
    language sql stable security definer set search_path = ''
as $$
    select p_user.email_confirmed_at is not null and (
        lower(coalesce(p_user.email, '')) in (
            select lower(trim(e)) from public.app_config c, unnest(c.admin_emails) e)
        or (not exists (select 1 from auth.users u
                        where u.id <> p_user.id and u.email_confirmed_at is not null)
            and not exists (select 1 from public.profiles p
                            where p.id <> p_user.id and p.role = 'admin')))
$$;

create or replace function public.handle_new_user() returns trigger
    language plpgsql security definer set search_path = ''
as $$
begin
    -- serialise sign-ups and confirmations so exactly one "first account" exists
    perform pg_advisory_xact_lock(hashtextextended('public.handle_new_user', 0));
    insert into public.profiles (id, email, role)
    values (new.id, lower(coalesce(new.email, '')),
            case when public.should_be_admin(new) then 'admin' else 'user' end)
    on conflict (id) do nothing;
    return new;
end;
$$;

create or replace function public.handle_user_confirmed() returns trigger
    language plpgsql security definer set search_path = ''
as $$
begin
    perform pg_advisory_xact_lock(hashtextextended('public.handle_new_user', 0));
    if public.should_be_admin(new) then
        update public.profiles set role = 'admin' where id = new.id and role <> 'admin';
    end if;
    return new;
end;
$$;

create or replace function public.handle_user_email_change() returns trigger
    language plpgsql security definer set search_path = ''
as $$
begin
    update public.profiles set email = lower(coalesce(new.email, '')) where id = new.id;
    return new;
end;
$$;

drop trigger if exists on_auth_user_created on auth.users;
create trigger on_auth_user_created after insert on auth.users
    for each row execute function public.handle_new_user();
drop trigger if exists on_auth_user_confirmed on auth.users;
create trigger on_auth_user_confirmed after update of email_confirmed_at on auth.users
    for each row when (old.email_confirmed_at is null and new.email_confirmed_at is not null)
    execute function public.handle_user_confirmed();
drop trigger if exists on_auth_user_email_changed on auth.users;
create trigger on_auth_user_email_changed after update of email on auth.users
    for each row when (old.email is distinct from new.email)
    execute function public.handle_user_email_change();

-- The last admin stays one: a change that would leave no enabled admin with a confirmed email
-- (who can sign in and act) is refused with SL409. Changes serialise on one lock, so two admins
-- demoting (or disabling) each other at once cannot both succeed. The rule binds every API
-- caller, the server's service role included; the database owner at work (the SQL editor, a
-- migration: a superuser or RLS-bypassing role that is not service_role) is not held to it.
-- Decided by the database role, like is_service(), never by a claim a token can carry.
create or replace function public.keep_an_admin() returns trigger
    language plpgsql security definer set search_path = ''
as $$
declare
    -- the row that leaves the admins: updated (demoted, disabled) or deleted
    v_id uuid := case when tg_op = 'DELETE' then old.id else new.id end;
begin
    if public.is_service() and coalesce(nullif(pg_catalog.current_setting('role'), 'none'),
                                        session_user::text) <> 'service_role' then
        return coalesce(new, old);
    end if;
    perform pg_advisory_xact_lock(hashtextextended('public.keep_an_admin', 0));
    if not exists (
        select 1 from public.profiles p join auth.users u on u.id = p.id
        where p.id <> v_id and p.role = 'admin' and not p.disabled
          and u.email_confirmed_at is not null
    ) then
        raise exception using errcode = 'SL409',
            message = 'the last admin cannot be demoted, disabled or deleted';
    end if;
    return coalesce(new, old);
end;
$$;

drop trigger if exists profiles_keep_an_admin on public.profiles;
create trigger profiles_keep_an_admin before update of role, disabled on public.profiles
    for each row when (old.role = 'admin' and not old.disabled
                       and (new.role <> 'admin' or new.disabled))
    execute function public.keep_an_admin();
revoke all on function public.keep_an_admin() from public, anon, authenticated;

-- Accounts that existed before this schema get a plain profile.
insert into public.profiles (id, email)
select u.id, lower(coalesce(u.email, '')) from auth.users u
on conflict (id) do nothing;

-- ---- submitting -----------------------------------------------------------------------------
-- p_jobs: a JSON array of {id, user_id, provider, model, kind, prompt, params, input_path,
-- batch_id, max_attempts, idempotency_key}, one batch of one user. Two doors:
--   submit_jobs(p_jobs, p_rate_limit)    users and the server. A user's own call (their JWT,
--       straight to /rest/v1/rpc/submit_jobs) gets max_attempts and the limits from the
--       server's settings: the rate limit from app_config (p_rate_limit can only lower it; 30 a
--       minute until the server has published RATE_LIMIT_PER_MINUTE), the daily quota from the
--       profile's override, else app_config.daily_quota; a caller never names its own quota.
--       Small requests only: at most 16 jobs, a prompt of 1 to 32,000 characters, params a
--       JSON object of at most 16 KiB.
--   submit_jobs_with_quota(p_jobs, p_rate_limit, p_daily_quota)    the server only (service
--       role): the limits it computed itself.
-- An idempotency key and a batch id count only among the caller's own jobs. The provider and
-- its params are checked again by the worker. Errors the server maps:
--   SR429  rate limited   detail = {"retry_after": s, "limit": n}
--   SQ429  daily quota    detail = {"retry_after": s, "quota": n, "left": n}
-- (Earlier versions had one submit_jobs with a p_daily_quota any caller could set.)
drop function if exists public.submit_jobs(jsonb, integer, integer);
create or replace function public.submit_jobs_with_quota(
    p_jobs jsonb,
    p_rate_limit integer,
    p_daily_quota integer
) returns setof public.jobs
    language plpgsql security definer set search_path = ''
as $$
declare
    v_user uuid;
    v_key text;
    v_batch uuid;
    v_count integer;
    v_now timestamptz;
    v_limit integer := p_rate_limit;
    v_quota integer := p_daily_quota;
    v_used integer;
    v_free integer;
    v_wait integer;
    v_midnight timestamptz;
    v_cfg public.app_config;
    v_attempts integer;
    v_full boolean := true;
    r record;
begin
    if jsonb_typeof(p_jobs) is distinct from 'array' or jsonb_array_length(p_jobs) = 0 then
        raise exception using errcode = '22023', message = 'submit_jobs needs a non-empty array';
    end if;
    v_count := jsonb_array_length(p_jobs);
    v_user := (p_jobs -> 0 ->> 'user_id')::uuid;
    v_key := p_jobs -> 0 ->> 'idempotency_key';
    v_batch := coalesce((p_jobs -> 0 ->> 'batch_id')::uuid, gen_random_uuid());
    if exists (
        select 1 from jsonb_array_elements(p_jobs) j
        where (j ->> 'user_id')::uuid is distinct from v_user
           or (j ->> 'idempotency_key') is distinct from v_key
           or coalesce((j ->> 'batch_id')::uuid, v_batch) is distinct from v_batch
    ) then
        raise exception using errcode = '22023',
            message = 'a batch belongs to one user and shares one batch id and idempotency key';
    end if;
    if not public.is_service() then
        if auth.uid() is null or auth.uid() <> v_user then
            raise exception using errcode = '42501', message = 'you can only submit your own jobs';
        end if;
        -- an account without a profile (deleted) is refused like a disabled one
        if not exists (select 1 from public.profiles p where p.id = v_user and not p.disabled) then
            raise exception using errcode = '42501', message = 'this account is disabled';
        end if;
        -- an edit's source image must be the user's own object
        if exists (
            select 1 from jsonb_array_elements(p_jobs) j
            where j ->> 'input_path' is not null
              and split_part(j ->> 'input_path', '/', 1) <> v_user::text
        ) then
            raise exception using errcode = '42501', message = 'an edit source must be your own';
        end if;
        if v_count > 16 then
            raise exception using errcode = '22023', message = 'at most 16 jobs per submission';
        end if;
        if exists (
            select 1 from jsonb_array_elements(p_jobs) j
            where jsonb_typeof(coalesce(j -> 'params', '{}')) is distinct from 'object'
               or octet_length(coalesce(j -> 'params', '{}')::text) > 16384
               or coalesce(char_length(btrim(j ->> 'prompt')), 0) = 0
               or char_length(j ->> 'prompt') > 32000
        ) then
            raise exception using errcode = '22023',
                message = 'a prompt is 1 to 32000 characters and params a JSON object of at most 16 KiB';
        end if;
        -- limits for a user's own call come from the server's settings, not from the caller
        select * into v_cfg from public.app_config where id;
        v_attempts := coalesce(v_cfg.max_attempts, 4);
        v_full := public.is_reviewer();
        -- never unlimited: until the server publishes its limit, the default (30) applies
        v_limit := least(coalesce(v_limit, v_cfg.rate_limit_per_minute, 30),
                         coalesce(v_cfg.rate_limit_per_minute, 30));
        -- the server's quota only: p_daily_quota is the server's own (submit_jobs passes none)
        v_quota := coalesce((select p.daily_quota from public.profiles p where p.id = v_user),
                            v_cfg.daily_quota);
    end if;

    -- one submission of a user at a time: the limit, quota and key checks hold under concurrency
    perform pg_advisory_xact_lock(hashtextextended('public.submit_jobs:' || v_user::text, 0));
    v_now := clock_timestamp();

    if v_key is not null then
        select k.batch_id into r from public.idempotency_keys k
        where k.user_id = v_user and k.key = v_key;
        if found then
            -- the caller's own jobs of that batch: another user may have used the same batch id
            if exists (select 1 from public.jobs j
                       where j.batch_id = r.batch_id and j.user_id = v_user) then
                return query select m.* from public.jobs j
                    cross join lateral public.job_as_seen(j, v_full) m
                    where j.batch_id = r.batch_id and j.user_id = v_user
                    order by j.created_at, j.id;
                return;
            end if;
            delete from public.idempotency_keys k where k.user_id = v_user and k.key = v_key;
        end if;
    end if;

    if v_limit is not null then
        select coalesce(sum(s.count), 0) into v_used from public.submissions s
        where s.user_id = v_user and s.created_at > v_now - interval '60 seconds';
        if v_used + v_count > v_limit then
            v_wait := 60;
            if v_count <= v_limit then
                -- wait until enough of the oldest submissions leave the 60 s window
                v_free := 0;
                for r in
                    select s.created_at, s.count from public.submissions s
                    where s.user_id = v_user and s.created_at > v_now - interval '60 seconds'
                    order by s.created_at
                loop
                    v_free := v_free + r.count;
                    if v_free >= v_used + v_count - v_limit then
                        v_wait := ceil(extract(epoch from r.created_at + interval '60 seconds' - v_now));
                        exit;
                    end if;
                end loop;
            end if;
            raise exception using errcode = 'SR429', message = 'rate limited',
                detail = jsonb_build_object('retry_after', greatest(v_wait, 1), 'limit', v_limit,
                                            'batch_too_large', v_count > v_limit)::text;
        end if;
    end if;

    if v_quota is not null then
        v_midnight := date_trunc('day', v_now at time zone 'UTC') at time zone 'UTC';
        select coalesce(sum(s.count), 0) into v_used from public.submissions s
        where s.user_id = v_user and s.created_at >= v_midnight;
        if v_used + v_count > v_quota then
            raise exception using errcode = 'SQ429', message = 'daily quota exceeded',
                detail = jsonb_build_object(
                    'retry_after', greatest(1, ceil(extract(epoch from
                        v_midnight + interval '1 day' - v_now))),
                    'quota', v_quota, 'left', greatest(0, v_quota - v_used))::text;
        end if;
    end if;

    delete from public.submissions s
    where s.user_id = v_user and s.created_at < v_now - interval '2 days';
    insert into public.submissions (user_id, created_at, count) values (v_user, v_now, v_count);
    if v_key is not null then
        insert into public.idempotency_keys (user_id, key, batch_id, created_at)
        values (v_user, v_key, v_batch, v_now);
    end if;

    return query
    insert into public.jobs as j (id, user_id, provider, model, kind, prompt, params, input_path,
                                  status, attempts, max_attempts, run_after, batch_id,
                                  idempotency_key, created_at, updated_at)
    select coalesce((e ->> 'id')::uuid, gen_random_uuid()), v_user, e ->> 'provider',
           e ->> 'model', coalesce(e ->> 'kind', 'generate'), e ->> 'prompt',
           coalesce(e -> 'params', '{}'::jsonb), e ->> 'input_path', 'queued', 0,
           coalesce(v_attempts, (e ->> 'max_attempts')::integer, 4),
           -- a microsecond apart keeps the batch's order stable in every listing
           v_now + (n - 1) * interval '1 microsecond', v_batch, v_key,
           v_now + (n - 1) * interval '1 microsecond', v_now + (n - 1) * interval '1 microsecond'
    from jsonb_array_elements(p_jobs) with ordinality as t(e, n)
    order by n
    returning j.*;
end;
$$;

create or replace function public.submit_jobs(p_jobs jsonb, p_rate_limit integer)
returns setof public.jobs
    language sql security definer set search_path = ''
as $$
    select * from public.submit_jobs_with_quota(p_jobs, p_rate_limit, null)
$$;

-- ---- the queue (service role only) ----------------------------------------------------------
-- Take the oldest runnable job unless p_concurrency jobs already hold a live lease. A global
-- advisory lock serialises claims, so the cap holds across every worker process; SKIP LOCKED
-- steps over rows another transaction (a cancel, a finish) is changing.
create or replace function public.claim_job(
    p_owner text,
    p_lease_seconds double precision,
    p_concurrency integer
) returns setof public.jobs
    language plpgsql set search_path = ''
as $$
declare
    v_now timestamptz;
    v_id uuid;
begin
    if p_concurrency < 1 then
        return;
    end if;
    perform pg_advisory_xact_lock(hashtextextended('public.claim_job', 0));
    v_now := clock_timestamp();
    -- an expired lease on the last attempt: the worker died every time, give up
    update public.jobs j set status = 'failed', error_code = 'worker_lost',
        error_message = 'The worker crashed or timed out repeatedly while generating this image ('
                        || j.attempts || ' attempts); giving up.',
        lease_owner = null, lease_expires_at = null, finished_at = v_now, updated_at = v_now
    where j.status = 'processing' and j.lease_expires_at <= v_now and j.attempts >= j.max_attempts;
    if (select count(*) from public.jobs j
        where j.status = 'processing' and j.lease_expires_at > v_now) >= p_concurrency then
        return;
    end if;
    select j.id into v_id from public.jobs j
    where (j.status = 'queued' and j.run_after <= v_now)
       or (j.status = 'processing' and j.lease_expires_at <= v_now)
    order by j.created_at, j.id
    limit 1
    for update skip locked;
    if v_id is null then
        return;
    end if;
    return query
    update public.jobs j set status = 'processing', lease_owner = p_owner,
        lease_expires_at = v_now + make_interval(secs => p_lease_seconds),
        attempts = j.attempts + 1, started_at = coalesce(j.started_at, v_now), updated_at = v_now
    where j.id = v_id
    returning j.*;
end;
$$;

-- Extend the leases p_owner still holds; returns their ids.
create or replace function public.heartbeat_jobs(
    p_ids uuid[],
    p_owner text,
    p_lease_seconds double precision
) returns uuid[]
    language sql set search_path = ''
as $$
    with held as (
        update public.jobs j
        set lease_expires_at = clock_timestamp() + make_interval(secs => p_lease_seconds),
            updated_at = clock_timestamp()
        where j.id = any (p_ids) and j.lease_owner = p_owner and j.status = 'processing'
        returning j.id
    )
    select coalesce(array_agg(id), '{}') from held
$$;

create or replace function public.finish_job(
    p_id uuid,
    p_owner text,
    p_result_path text,
    p_thumb_path text,
    p_result_meta jsonb
) returns boolean
    language plpgsql set search_path = ''
as $$
begin
    update public.jobs j set status = 'done', result_path = p_result_path,
        thumb_path = p_thumb_path, result_meta = coalesce(p_result_meta, '{}'),
        error_code = null, error_message = null, lease_owner = null, lease_expires_at = null,
        finished_at = clock_timestamp(), updated_at = clock_timestamp()
    where j.id = p_id and j.lease_owner = p_owner and j.status = 'processing';
    return found;
end;
$$;

create or replace function public.fail_job(
    p_id uuid,
    p_owner text,
    p_error_code text,
    p_error_message text
) returns boolean
    language plpgsql set search_path = ''
as $$
begin
    update public.jobs j set status = 'failed', error_code = p_error_code,
        error_message = p_error_message, lease_owner = null, lease_expires_at = null,
        finished_at = clock_timestamp(), updated_at = clock_timestamp()
    where j.id = p_id and j.lease_owner = p_owner and j.status = 'processing';
    return found;
end;
$$;

-- Back to the queue after a transient error; the attempt stays counted.
create or replace function public.requeue_job(
    p_id uuid,
    p_owner text,
    p_run_after timestamptz,
    p_error_code text,
    p_error_message text
) returns boolean
    language plpgsql set search_path = ''
as $$
begin
    update public.jobs j set status = 'queued', run_after = p_run_after,
        error_code = p_error_code, error_message = p_error_message,
        lease_owner = null, lease_expires_at = null, updated_at = clock_timestamp()
    where j.id = p_id and j.lease_owner = p_owner and j.status = 'processing';
    return found;
end;
$$;

-- Shutdown: hand leased jobs back, refunding the attempt.
create or replace function public.release_jobs(p_ids uuid[], p_owner text) returns integer
    language plpgsql set search_path = ''
as $$
declare
    v_count integer;
begin
    update public.jobs j set status = 'queued', attempts = greatest(j.attempts - 1, 0),
        run_after = clock_timestamp(), lease_owner = null, lease_expires_at = null,
        updated_at = clock_timestamp()
    where j.id = any (p_ids) and j.lease_owner = p_owner and j.status = 'processing';
    get diagnostics v_count = row_count;
    return v_count;
end;
$$;

-- ---- doors for signed-in users --------------------------------------------------------------
-- queued → canceled, by the owner (or an admin, or the server).
create or replace function public.cancel_job(p_id uuid) returns boolean
    language plpgsql security definer set search_path = ''
as $$
begin
    update public.jobs j set status = 'canceled', finished_at = clock_timestamp(),
        updated_at = clock_timestamp()
    where j.id = p_id and j.status = 'queued'
      and (public.is_service() or j.user_id = auth.uid() or public.is_admin());
    return found;
end;
$$;

-- Review fields only; reviewers act under their own id.
create or replace function public.set_review(
    p_ids uuid[],
    p_status text,
    p_note text,
    p_reviewer uuid
) returns integer
    language plpgsql security definer set search_path = ''
as $$
declare
    v_count integer;
begin
    if not (public.is_service() or (public.is_reviewer() and p_reviewer = auth.uid())) then
        raise exception using errcode = '42501', message = 'only reviewers can review jobs';
    end if;
    update public.jobs j set review_status = p_status, review_note = p_note,
        reviewed_by = p_reviewer, reviewed_at = clock_timestamp(), updated_at = clock_timestamp()
    where j.id = any (p_ids);
    get diagnostics v_count = row_count;
    return v_count;
end;
$$;

-- One job as the caller may see it (the rules of list_jobs); empty if they may not.
create or replace function public.get_job(p_id uuid) returns setof public.jobs
    language plpgsql stable security definer set search_path = ''
as $$
declare
    v_full boolean := public.sees_all_jobs();
    v_uid uuid := auth.uid();
begin
    if not v_full and (v_uid is null or not public.is_active_user()) then
        return;
    end if;
    return query
    select m.* from public.jobs j
    cross join lateral public.job_as_seen(j, v_full) m
    where j.id = p_id and (v_full or j.user_id = v_uid);
end;
$$;

-- Keyset-paginated listing. It reads the review identity columns the caller cannot select, so
-- it runs as the owner and applies the rules of the select policy itself: the server,
-- reviewers and admins see every job in full; an enabled user sees their own, without who
-- reviewed them.
create or replace function public.list_jobs(
    p_user_id uuid default null,
    p_statuses text[] default '{}',
    p_providers text[] default '{}',
    p_models text[] default '{}',
    p_review_statuses text[] default '{}',
    p_text text default null,
    p_batch_id uuid default null,
    p_created_after timestamptz default null,
    p_created_before timestamptz default null,
    p_oldest_first boolean default false,
    p_cursor_created_at timestamptz default null,
    p_cursor_id uuid default null,
    p_limit integer default 24
) returns setof public.jobs
    language plpgsql stable security definer set search_path = ''
as $$
declare
    v_pattern text := case when p_text is null or p_text = '' then null else
        '%' || replace(replace(replace(p_text, '\', '\\'), '%', '\%'), '_', '\_') || '%' end;
    v_full boolean := public.sees_all_jobs();
    v_uid uuid := auth.uid();
begin
    if not v_full and (v_uid is null or not public.is_active_user()) then
        return;
    end if;
    return query
    select m.* from public.jobs j
    cross join lateral public.job_as_seen(j, v_full) m
    where (v_full or j.user_id = v_uid)
      and (p_user_id is null or j.user_id = p_user_id)
      and (cardinality(p_statuses) = 0 or j.status = any (p_statuses))
      and (cardinality(p_providers) = 0 or j.provider = any (p_providers))
      and (cardinality(p_models) = 0 or j.model = any (p_models))
      and (cardinality(p_review_statuses) = 0 or j.review_status = any (p_review_statuses))
      and (v_pattern is null or j.prompt ilike v_pattern)
      and (p_batch_id is null or j.batch_id = p_batch_id)
      and (p_created_after is null or j.created_at >= p_created_after)
      and (p_created_before is null or j.created_at < p_created_before)
      and (p_cursor_created_at is null or (
            case when p_oldest_first
                 then (j.created_at, j.id) > (p_cursor_created_at, p_cursor_id)
                 else (j.created_at, j.id) < (p_cursor_created_at, p_cursor_id) end))
    order by
        case when p_oldest_first then j.created_at end asc,
        case when p_oldest_first then j.id end asc,
        j.created_at desc, j.id desc
    limit greatest(1, least(coalesce(p_limit, 24), 501));
end;
$$;

-- 1-based place among runnable queued jobs (claim order), for jobs the caller may see.
create or replace function public.queue_positions(p_ids uuid[])
returns table (job_id uuid, queue_position integer)
    language sql stable security definer set search_path = ''
as $$
    select q.id, q.pos::integer from (
        select j.id, j.user_id, row_number() over (order by j.created_at, j.id) as pos
        from public.jobs j
        where j.status = 'queued' and j.run_after <= clock_timestamp()
    ) q
    where q.id = any (p_ids)
      and (public.is_service() or q.user_id = auth.uid() or public.is_reviewer())
$$;

create or replace function public.queue_depth()
returns table (queued integer, processing integer, oldest_queued_seconds double precision)
    language sql stable security definer set search_path = ''
as $$
    select
        (select count(*)::integer from public.jobs where status = 'queued'),
        (select count(*)::integer from public.jobs where status = 'processing'),
        (select case when min(created_at) is not null then
                    greatest(0, extract(epoch from clock_timestamp() - min(created_at)))::float8
                end
         from public.jobs where status = 'queued')
$$;

-- ---- retention, admin and singletons (service role only) ------------------------------------
create or replace function public.purge_candidates(
    p_statuses text[],
    p_finished_before timestamptz,
    p_user_id uuid default null,
    p_exclude_review text[] default '{}',
    p_limit integer default 500
) returns setof public.jobs
    language plpgsql stable set search_path = ''
as $$
begin
    if exists (select 1 from unnest(p_statuses) s where s not in ('done', 'failed', 'canceled'))
    then
        raise exception using errcode = '22023',
            message = 'only finished jobs (done, failed, canceled) can be purged';
    end if;
    return query
    select j.* from public.jobs j
    where j.status = any (p_statuses)
      and coalesce(j.finished_at, j.created_at) < p_finished_before
      and (p_user_id is null or j.user_id = p_user_id)
      and not (j.review_status = any (coalesce(p_exclude_review, '{}')))
    order by coalesce(j.finished_at, j.created_at), j.id
    limit greatest(p_limit, 0);
end;
$$;

-- What purge_candidates would return without a limit: jobs, recorded bytes, stored objects.
create or replace function public.purge_summary(
    p_statuses text[],
    p_finished_before timestamptz,
    p_user_id uuid default null,
    p_exclude_review text[] default '{}'
) returns table (jobs integer, bytes bigint, objects integer)
    language sql stable set search_path = ''
as $$
    select count(*)::integer,
           coalesce(sum(case when jsonb_typeof(j.result_meta -> 'bytes') = 'number'
                             then (j.result_meta ->> 'bytes')::numeric::bigint else 0 end), 0)::bigint,
           coalesce(sum((j.result_path is not null)::integer
                        + (j.thumb_path is not null)::integer), 0)::integer
    from public.jobs j
    where j.status = any (p_statuses)
      and coalesce(j.finished_at, j.created_at) < p_finished_before
      and (p_user_id is null or j.user_id = p_user_id)
      and not (j.review_status = any (coalesce(p_exclude_review, '{}')))
$$;

-- Record a purge run, keeping the latest 500.
create or replace function public.record_sweep(p_run jsonb) returns void
    language sql set search_path = ''
as $$
    insert into public.sweep_runs (id, trigger, owner, started_at, finished_at, deleted_jobs,
                                   deleted_bytes, kept_jobs, errors)
    select r.id, r.trigger, r.owner, r.started_at, r.finished_at, r.deleted_jobs,
           r.deleted_bytes, r.kept_jobs, coalesce(r.errors, '{}')
    from jsonb_populate_record(null::public.sweep_runs, p_run) r;
    delete from public.sweep_runs s where s.id not in (
        select k.id from public.sweep_runs k order by k.started_at desc limit 500);
$$;

-- Admin page figures for jobs created since p_since, as one JSON document. (Replaced further
-- down, "the statistics page from daily rollups": this first version aggregates every job.)
create or replace function public.job_stats(p_since timestamptz, p_top_users integer default 10)
returns jsonb
    language sql stable set search_path = ''
as $$
    select jsonb_build_object(
        'per_day', coalesce((
            select jsonb_agg(d order by d.day, d.provider) from (
                select (j.created_at at time zone 'UTC')::date as day, j.provider,
                       count(*) as jobs, count(*) filter (where j.status = 'failed') as failed
                from public.jobs j where j.created_at >= p_since group by 1, 2) d), '[]'),
        'failures', coalesce((
            select jsonb_agg(f order by f.jobs desc, f.provider, f.error_code) from (
                select j.provider, coalesce(j.error_code, 'unknown') as error_code,
                       count(*) as jobs
                from public.jobs j where j.created_at >= p_since and j.status = 'failed'
                group by 1, 2) f), '[]'),
        -- processing seconds of done jobs per provider; the server takes the percentiles
        'durations', coalesce((
            select jsonb_object_agg(l.provider, l.seconds) from (
                select j.provider, jsonb_agg(extract(epoch from j.finished_at - j.started_at)
                                             order by j.finished_at - j.started_at) as seconds
                from public.jobs j
                where j.created_at >= p_since and j.status = 'done'
                  and j.started_at is not null and j.finished_at is not null
                group by 1) l), '{}'),
        'top_users', coalesce((
            select jsonb_agg(u order by u.jobs desc, u.user_id) from (
                select j.user_id, count(*) as jobs,
                       count(*) filter (where j.status = 'done') as done,
                       count(*) filter (where j.status = 'failed') as failed
                from public.jobs j where j.created_at >= p_since
                group by 1 order by 2 desc, 1 limit p_top_users) u), '[]'),
        'spend', coalesce((
            select jsonb_agg(s order by s.provider, s.model, s.user_id) from (
                -- the provider's cost_usd, else the adapter's estimated_cost_usd
                select c.provider, c.model, c.user_id, count(*) as images,
                       count(c.usd) as priced, coalesce(sum(c.usd), 0) as recorded_usd
                from (
                    select j.provider, j.model, j.user_id,
                           case when jsonb_typeof(j.result_meta -> 'cost_usd') = 'number'
                                then (j.result_meta ->> 'cost_usd')::numeric
                                when jsonb_typeof(j.result_meta -> 'estimated_cost_usd') = 'number'
                                then (j.result_meta ->> 'estimated_cost_usd')::numeric
                           end as usd
                    from public.jobs j where j.created_at >= p_since and j.status = 'done') c
                group by 1, 2, 3) s), '[]'))
$$;

create or replace function public.user_activity()
returns table (user_id uuid, jobs integer, last_activity timestamptz)
    language sql stable set search_path = ''
as $$
    select j.user_id, count(*)::integer, max(j.created_at) from public.jobs j group by j.user_id
$$;

create or replace function public.cancel_user_jobs(p_user_id uuid) returns integer
    language plpgsql set search_path = ''
as $$
declare
    v_count integer;
begin
    update public.jobs j set status = 'canceled', finished_at = clock_timestamp(),
        updated_at = clock_timestamp()
    where j.user_id = p_user_id and j.status = 'queued';
    get diagnostics v_count = row_count;
    return v_count;
end;
$$;

-- True when p_owner now holds the named lease (free, expired, or already its own).
create or replace function public.try_acquire_lease(
    p_name text,
    p_owner text,
    p_seconds double precision
) returns boolean
    language plpgsql set search_path = ''
as $$
declare
    v_now timestamptz := clock_timestamp();
begin
    insert into public.leases as l (name, owner, expires_at)
    values (p_name, p_owner, v_now + make_interval(secs => p_seconds))
    on conflict (name) do update set owner = excluded.owner, expires_at = excluded.expires_at
        where l.owner = excluded.owner or l.expires_at <= v_now;
    return found;
end;
$$;

-- Sign-in attempts, one email at a time (so parallel guesses cannot all pass the check): an
-- attempt is recorded as a failure before Supabase Auth checks its password. Five in 15
-- minutes lock the email until 5 minutes after the latest.
drop function if exists public.sign_in_lockout(text);
drop function if exists public.note_sign_in(text, boolean);

-- {"attempt": id} to go on and check the password, or {"retry_after": s} while locked
-- (nothing recorded).
create or replace function public.begin_sign_in(p_email text) returns jsonb
    language plpgsql set search_path = ''
as $$
declare
    v_email text := lower(p_email);
    v_now timestamptz;
    v_count integer;
    v_latest timestamptz;
    v_id uuid;
begin
    perform pg_advisory_xact_lock(hashtextextended('public.sign_in:' || v_email, 0));
    v_now := clock_timestamp();
    delete from public.sign_in_failures f
    where f.email = v_email and f.at <= v_now - interval '15 minutes';
    select count(*), max(f.at) into v_count, v_latest
    from public.sign_in_failures f where f.email = v_email;
    if v_count >= 5 and v_latest + interval '5 minutes' > v_now then
        return jsonb_build_object('retry_after', greatest(1, ceil(extract(epoch from
            v_latest + interval '5 minutes' - v_now)))::integer);
    end if;
    insert into public.sign_in_failures (email, at) values (v_email, v_now) returning id into v_id;
    return jsonb_build_object('attempt', v_id);
end;
$$;

-- p_ok false (a wrong password): the attempt stays a failure; if a success that began later
-- forgave it meanwhile, it is recorded again. p_ok true: forget the attempt and the failures
-- before it, unless another attempt began since (those stay counted, this one with them, so
-- a lock they built is not reopened).
create or replace function public.end_sign_in(p_email text, p_attempt uuid, p_ok boolean)
returns void
    language plpgsql set search_path = ''
as $$
declare
    v_email text := lower(p_email);
    v_at timestamptz;
begin
    perform pg_advisory_xact_lock(hashtextextended('public.sign_in:' || v_email, 0));
    select f.at into v_at from public.sign_in_failures f
    where f.id = p_attempt and f.email = v_email;
    if not p_ok then
        if v_at is null then
            insert into public.sign_in_failures (email, at) values (v_email, clock_timestamp());
        end if;
        return;
    end if;
    if v_at is null or exists (
        select 1 from public.sign_in_failures f
        where f.email = v_email and f.at >= v_at and f.id <> p_attempt
    ) then
        return;
    end if;
    delete from public.sign_in_failures f where f.email = v_email and f.at <= v_at;
end;
$$;

-- An API token's user, if the token is live and the account enabled. Records the use at most
-- once a minute and best effort: a lookup never fails because that write did (a full disk, a
-- read-only transaction), so reading through the API does not depend on writing.
create or replace function public.use_api_token(p_token_hash text) returns setof public.profiles
    language plpgsql set search_path = ''
as $$
declare
    v_token uuid;
    v_user uuid;
    v_last timestamptz;
begin
    select t.id, t.user_id, t.last_used_at into v_token, v_user, v_last
    from public.api_tokens t
    where t.token_hash = p_token_hash and not t.revoked;
    if v_user is null then
        return;
    end if;
    if v_last is null or v_last <= clock_timestamp() - interval '1 minute' then
        begin
            update public.api_tokens t set last_used_at = clock_timestamp()
            where t.id = v_token
              and (t.last_used_at is null
                   or t.last_used_at <= clock_timestamp() - interval '1 minute');
        exception when others then
            raise warning 'use_api_token: the last use was not recorded (%)', sqlstate;
        end;
    end if;
    return query select p.* from public.profiles p where p.id = v_user and not p.disabled;
end;
$$;

-- ---- row-level security ---------------------------------------------------------------------
alter table public.app_config enable row level security;
alter table public.profiles enable row level security;
alter table public.jobs enable row level security;
alter table public.submissions enable row level security;
alter table public.idempotency_keys enable row level security;
alter table public.sessions enable row level security;
alter table public.api_tokens enable row level security;
alter table public.leases enable row level security;
alter table public.sign_in_failures enable row level security;
alter table public.sweep_runs enable row level security;

-- `(select auth.uid())` is evaluated once per statement instead of once per row.
drop policy if exists jobs_select_own_or_reviewer on public.jobs;
create policy jobs_select_own_or_reviewer on public.jobs for select to authenticated
    using ((user_id = (select auth.uid()) and (select public.is_active_user()))
           or (select public.is_reviewer()));

-- no delete policy (and no delete grant): rows go with their files, through the server
drop policy if exists jobs_delete_own_or_admin on public.jobs;

drop policy if exists profiles_select_self_or_admin on public.profiles;
create policy profiles_select_self_or_admin on public.profiles for select to authenticated
    using (id = (select auth.uid()) or (select public.is_admin()));

-- app_config, submissions, idempotency_keys, sessions, api_tokens, leases, sweep_runs and
-- sign_in_failures have no policy: with RLS on, only the service role (which bypasses RLS) reaches them.

-- ---- grants ---------------------------------------------------------------------------------
-- Supabase grants everything in `public` to anon and authenticated by default; take it back.
revoke all on table public.app_config, public.profiles, public.jobs, public.submissions,
    public.idempotency_keys, public.sessions, public.api_tokens, public.leases, public.sweep_runs,
    public.sign_in_failures
    from public, anon, authenticated;
-- every column but the reviewer's identity and note (reviewers read them through get_job and
-- list_jobs); `select=*` on /rest/v1/jobs is refused for users, name the columns
grant select (id, user_id, provider, model, kind, prompt, params, input_path, status, attempts,
    max_attempts, run_after, lease_owner, lease_expires_at, error_code, error_message,
    result_path, thumb_path, result_meta, review_status, reviewed_at, batch_id, idempotency_key,
    created_at, started_at, finished_at, updated_at)
    on table public.jobs to authenticated;
grant select on table public.profiles to authenticated;
grant all on table public.app_config, public.profiles, public.jobs, public.submissions,
    public.idempotency_keys, public.sessions, public.api_tokens, public.leases, public.sweep_runs,
    public.sign_in_failures
    to service_role;

revoke all on function
    public.is_reviewer(), public.is_admin(), public.is_service(), public.is_active_user(),
    public.sees_all_jobs(), public.job_as_seen(public.jobs, boolean),
    public.should_be_admin(auth.users), public.handle_new_user(),
    public.handle_user_confirmed(), public.handle_user_email_change(),
    public.submit_jobs(jsonb, integer), public.get_job(uuid),
    public.submit_jobs_with_quota(jsonb, integer, integer),
    public.claim_job(text, double precision, integer),
    public.heartbeat_jobs(uuid[], text, double precision),
    public.finish_job(uuid, text, text, text, jsonb), public.fail_job(uuid, text, text, text),
    public.requeue_job(uuid, text, timestamptz, text, text), public.release_jobs(uuid[], text),
    public.cancel_job(uuid), public.set_review(uuid[], text, text, uuid),
    public.list_jobs(uuid, text[], text[], text[], text[], text, uuid, timestamptz, timestamptz,
                     boolean, timestamptz, uuid, integer),
    public.queue_positions(uuid[]), public.queue_depth(),
    public.purge_candidates(text[], timestamptz, uuid, text[], integer),
    public.purge_summary(text[], timestamptz, uuid, text[]), public.job_stats(timestamptz, integer),
    public.record_sweep(jsonb), public.user_activity(), public.cancel_user_jobs(uuid),
    public.try_acquire_lease(text, text, double precision), public.use_api_token(text),
    public.begin_sign_in(text), public.end_sign_in(text, uuid, boolean)
    from public, anon, authenticated;

-- what policies and the user-facing doors need
grant execute on function public.is_reviewer(), public.is_admin(), public.is_service(),
    public.is_active_user(), public.sees_all_jobs(),
    public.submit_jobs(jsonb, integer), public.get_job(uuid), public.cancel_job(uuid),
    public.set_review(uuid[], text, text, uuid),
    public.list_jobs(uuid, text[], text[], text[], text[], text, uuid, timestamptz, timestamptz,
                     boolean, timestamptz, uuid, integer),
    public.queue_positions(uuid[]), public.queue_depth()
    to authenticated, service_role;

-- the queue, retention and admin functions: the server only
grant execute on function
    public.submit_jobs_with_quota(jsonb, integer, integer),
    public.claim_job(text, double precision, integer),
    public.heartbeat_jobs(uuid[], text, double precision),
    public.finish_job(uuid, text, text, text, jsonb), public.fail_job(uuid, text, text, text),
    public.requeue_job(uuid, text, timestamptz, text, text), public.release_jobs(uuid[], text),
    public.purge_candidates(text[], timestamptz, uuid, text[], integer),
    public.purge_summary(text[], timestamptz, uuid, text[]), public.job_stats(timestamptz, integer),
    public.record_sweep(jsonb), public.user_activity(), public.cancel_user_jobs(uuid),
    public.try_acquire_lease(text, text, double precision), public.use_api_token(text),
    public.begin_sign_in(text), public.end_sign_in(text, uuid, boolean)
    to service_role;

-- ---- storage: the private `results` bucket --------------------------------------------------
-- Objects are `{user_id}/{job_id}.{ext}` and `{user_id}/{job_id}.thumb.webp`. The server
-- (service role) uploads and deletes; an enabled user reads only their own folder, reviewers
-- all.
insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('results', 'results', false, 52428800,
        array['image/png', 'image/jpeg', 'image/webp', 'image/gif'])
on conflict (id) do update set public = false;

drop policy if exists results_read_own_or_reviewer on storage.objects;
create policy results_read_own_or_reviewer on storage.objects for select to authenticated
    using (bucket_id = 'results'
           and (((storage.foldername(name))[1] = (select auth.uid())::text
                 and (select public.is_active_user()))
                or (select public.is_reviewer())));

-- ---- deleting an account (Account page "Delete my account", Admin "Delete user") ----------
-- The server (service role) calls delete_account_rows(p_user_id) after deleting the account's
-- stored files, then deletes the Auth user (auth.admin.delete_user), whose cascade removes
-- anything left. The rows go in one transaction; the profile first, so that the last-admin
-- guard below refuses before anything changes. Errors the server maps:
--   SL409  the last enabled admin     SB409  one of the user's jobs is being generated
--   SN404  no such user
-- The same keep_an_admin() guards deleting a profile (above: it serves both triggers).
drop function if exists public.keep_an_admin_on_delete() cascade;
drop trigger if exists profiles_keep_an_admin_on_delete on public.profiles;
create trigger profiles_keep_an_admin_on_delete before delete on public.profiles
    for each row when (old.role = 'admin' and not old.disabled)
    execute function public.keep_an_admin();

create or replace function public.delete_account_rows(p_user_id uuid) returns void
    language plpgsql security definer set search_path = ''
as $$
declare
    v_email text;
begin
    if not public.is_service() then
        raise exception using errcode = '42501', message = 'the server deletes accounts';
    end if;
    select email into v_email from public.profiles where id = p_user_id for update;
    if not found then
        raise exception using errcode = 'SN404', message = 'no such user';
    end if;
    if exists (select 1 from public.jobs where user_id = p_user_id and status = 'processing') then
        raise exception using errcode = 'SB409', message = 'a job is being generated';
    end if;
    delete from public.profiles where id = p_user_id;  -- the last-admin guard fires here
    delete from public.idempotency_keys where user_id = p_user_id;
    delete from public.jobs where user_id = p_user_id;
    -- The rate-limit and quota log; usage figures read the jobs table.
    delete from public.submissions where user_id = p_user_id;
    delete from public.sessions where user_id = p_user_id;
    delete from public.api_tokens where user_id = p_user_id;
    delete from public.sign_in_failures where email = v_email;
    -- Decisions this person made on other people's images stay, without naming them.
    update public.jobs set reviewed_by = null where reviewed_by = p_user_id;
end;
$$;
revoke all on function public.delete_account_rows(uuid) from public, anon, authenticated;
grant execute on function public.delete_account_rows(uuid) to service_role;

-- ---- speed (issue 13): generation slots do only generation ---------------------------------
-- A processing job whose provider call has returned is marked generated_at while its thumbnail
-- and uploads run (same lease, extended). claim_job's concurrency cap counts only processing
-- jobs not yet generated, so storage work holds none of the provider slots; a claim clears the
-- mark (a job whose worker died mid-storage is generated again: at-least-once, as before).
alter table public.jobs add column if not exists generated_at timestamptz;

create or replace function public.claim_job(
    p_owner text,
    p_lease_seconds double precision,
    p_concurrency integer
) returns setof public.jobs
    language plpgsql set search_path = ''
as $$
declare
    v_now timestamptz;
    v_granted timestamptz;
    v_id uuid;
begin
    if p_concurrency < 1 then
        return;
    end if;
    perform pg_advisory_xact_lock(hashtextextended('public.claim_job', 0));
    v_now := clock_timestamp();
    -- an expired lease on the last attempt: the worker died every time, give up
    update public.jobs j set status = 'failed', error_code = 'worker_lost',
        error_message = 'The worker crashed or timed out repeatedly while generating this image ('
                        || j.attempts || ' attempts); giving up.',
        lease_owner = null, lease_expires_at = null, finished_at = v_now, updated_at = v_now
    where j.status = 'processing' and j.lease_expires_at <= v_now and j.attempts >= j.max_attempts;
    if (select count(*) from public.jobs j
        where j.status = 'processing' and j.lease_expires_at > v_now
          and j.generated_at is null) >= p_concurrency then
        return;
    end if;
    select j.id into v_id from public.jobs j
    where (j.status = 'queued' and j.run_after <= v_now)
       or (j.status = 'processing' and j.lease_expires_at <= v_now)
    order by j.created_at, j.id
    limit 1
    for update skip locked;
    if v_id is null then
        return;
    end if;
    -- The count above may have seen a provider call that ended after v_now. The job starts
    -- now, so no started_at..generated_at span ever shows more calls at once than the cap.
    v_granted := clock_timestamp();
    return query
    update public.jobs j set status = 'processing', lease_owner = p_owner,
        lease_expires_at = v_granted + make_interval(secs => p_lease_seconds),
        attempts = j.attempts + 1, started_at = coalesce(j.started_at, v_granted),
        generated_at = null, updated_at = v_granted
    where j.id = v_id
    returning j.*;
end;
$$;

-- The provider call of p_owner's attempt returned: leave the cap's count, extend the lease.
create or replace function public.mark_job_generated(
    p_id uuid,
    p_owner text,
    p_lease_seconds double precision
) returns boolean
    language plpgsql set search_path = ''
as $$
begin
    update public.jobs j set generated_at = clock_timestamp(),
        lease_expires_at = clock_timestamp() + make_interval(secs => p_lease_seconds),
        updated_at = clock_timestamp()
    where j.id = p_id and j.lease_owner = p_owner and j.status = 'processing';
    return found;
end;
$$;
revoke all on function public.mark_job_generated(uuid, text, double precision)
    from public, anon, authenticated;
grant execute on function public.mark_job_generated(uuid, text, double precision) to service_role;

-- ---- speed (issue 13): a session check is one round trip ------------------------------------
-- The server checks the browser's session on every page run: the session row and the profile
-- of its user together (the profile is null when there is none).
create or replace function public.session_with_profile(p_token_hash text) returns jsonb
    language sql stable set search_path = ''
as $$
    select jsonb_build_object('session', to_jsonb(s), 'profile', to_jsonb(p))
    from public.sessions s
    left join public.profiles p on p.id = s.user_id
    where s.token_hash = p_token_hash
$$;
revoke all on function public.session_with_profile(text) from public, anon, authenticated;
grant execute on function public.session_with_profile(text) to service_role;

-- =============================================================================================
-- ---- push, not poll (issue 15): the job event log (the outbox), webhook endpoints and
-- deliveries. A trigger on jobs writes job_events in the transaction of the state change;
-- the server's dispatcher fans events out into webhook_deliveries (webhook_fan_out) and claims
-- them with FOR UPDATE SKIP LOCKED (claim_webhook_deliveries), so any number of workers share
-- the work and each delivery is leased by one at a time. Postgres hands out identity values
-- before commit, so "seq > cursor" could skip a late commit: events carry `fanned_out` instead
-- of a cursor. Only the service role reaches these tables (RLS on, no policy); the services
-- check ownership. Signing secrets are never stored: each is derived from the server's
-- SECRET_KEY and the row's salt.
-- =============================================================================================
create table if not exists public.job_events (
    seq bigint generated always as identity primary key,
    job_id uuid not null,
    user_id uuid not null,
    status text not null,
    created_at timestamptz not null default clock_timestamp(),
    fanned_out boolean not null default false
);
create index if not exists job_events_user on public.job_events (user_id, seq);
create index if not exists job_events_job on public.job_events (job_id, seq);
create index if not exists job_events_pending on public.job_events (seq) where not fanned_out;

create or replace function public.log_job_event() returns trigger
    language plpgsql security definer set search_path = ''
as $$
begin
    if tg_op = 'INSERT' or old.status is distinct from new.status
       or (new.status = 'processing' and new.attempts > old.attempts) then
        insert into public.job_events (job_id, user_id, status)
        values (new.id, new.user_id, new.status);
    end if;
    return null;
end;
$$;
revoke all on function public.log_job_event() from public, anon, authenticated;
drop trigger if exists jobs_log_event on public.jobs;
create trigger jobs_log_event after insert or update of status, attempts on public.jobs
    for each row execute function public.log_job_event();

create table if not exists public.webhook_endpoints (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references auth.users (id) on delete cascade,
    url text not null check (char_length(url) between 1 and 2000),
    events text[] not null,
    salt text not null,
    created_at timestamptz not null default now(),
    disabled_at timestamptz,
    disabled_reason text
);
create index if not exists webhook_endpoints_user on public.webhook_endpoints (user_id, created_at);

create table if not exists public.webhook_account_secrets (
    user_id uuid primary key references auth.users (id) on delete cascade,
    salt text not null,
    created_at timestamptz not null default now()
);

create table if not exists public.job_webhooks (
    job_id uuid primary key,
    user_id uuid not null references auth.users (id) on delete cascade,
    url text not null check (char_length(url) between 1 and 2000),
    created_at timestamptz not null default now()
);

create table if not exists public.webhook_deliveries (
    id text primary key,
    user_id uuid not null references auth.users (id) on delete cascade,
    endpoint_id uuid,
    target text not null,
    url text not null,
    salt text not null,
    event_seq bigint not null,
    event text not null,
    job_id uuid not null,
    payload text not null,
    status text not null default 'pending'
        check (status in ('pending', 'delivered', 'failed', 'gone')),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    lease_owner text,
    lease_expires_at timestamptz,
    last_status_code integer,
    last_error text,
    created_at timestamptz not null default now(),
    delivered_at timestamptz,
    unique (event_seq, target)
);
create index if not exists webhook_deliveries_due
    on public.webhook_deliveries (next_attempt_at) where status = 'pending';
create index if not exists webhook_deliveries_user
    on public.webhook_deliveries (user_id, created_at desc);

alter table public.job_events enable row level security;
alter table public.webhook_endpoints enable row level security;
alter table public.webhook_account_secrets enable row level security;
alter table public.job_webhooks enable row level security;
alter table public.webhook_deliveries enable row level security;
revoke all on table public.job_events, public.webhook_endpoints, public.webhook_account_secrets,
    public.job_webhooks, public.webhook_deliveries from public, anon, authenticated;
grant all on table public.job_events, public.webhook_endpoints, public.webhook_account_secrets,
    public.job_webhooks, public.webhook_deliveries to service_role;

-- The job as webhooks show it (the same keys as core.domain.webhooks.job_document).
create or replace function public.webhook_job_document(p_job public.jobs, p_status text)
    returns jsonb language sql stable set search_path = ''
as $$
    select jsonb_build_object(
        'id', p_job.id, 'status', p_status, 'provider', p_job.provider, 'model', p_job.model,
        'kind', p_job.kind, 'prompt', p_job.prompt, 'params', p_job.params,
        'batch_id', p_job.batch_id, 'attempts', p_job.attempts,
        'error_code', p_job.error_code, 'error_message', p_job.error_message,
        'result_meta', p_job.result_meta,
        'created_at', to_char(p_job.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'started_at', to_char(p_job.started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'finished_at', to_char(p_job.finished_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
$$;

-- Fan up to p_limit events out into deliveries (one per enabled endpoint whose filter takes
-- the event, and one for the job's own URL when the account has a per-job secret); returns
-- how many events it took. Concurrent callers take disjoint events (SKIP LOCKED).
create or replace function public.webhook_fan_out(p_limit integer) returns integer
    language plpgsql set search_path = ''
as $$
declare
    v_event record;
    v_name text;
    v_body text;
    v_job public.jobs;
    v_count integer := 0;
begin
    for v_event in
        select e.* from public.job_events e where not e.fanned_out
        order by e.seq limit greatest(p_limit, 0) for update skip locked
    loop
        v_count := v_count + 1;
        v_name := case v_event.status when 'queued' then 'job.queued'
            when 'processing' then 'job.started' when 'done' then 'job.succeeded'
            when 'failed' then 'job.failed' else 'job.canceled' end;
        select * into v_job from public.jobs j where j.id = v_event.job_id;
        v_body := jsonb_build_object(
            'type', v_name,
            'timestamp', to_char(v_event.created_at at time zone 'UTC',
                                 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
            'data', case when v_job.id is null
                         then jsonb_build_object('id', v_event.job_id, 'status', v_event.status)
                         else public.webhook_job_document(v_job, v_event.status) end)::text;
        insert into public.webhook_deliveries (id, user_id, endpoint_id, target, url, salt,
            event_seq, event, job_id, payload)
        select 'msg_' || replace(gen_random_uuid()::text, '-', ''), v_event.user_id, w.id,
            w.id::text, w.url, w.salt, v_event.seq, v_name, v_event.job_id, v_body
        from public.webhook_endpoints w
        where w.user_id = v_event.user_id and w.disabled_at is null and v_name = any (w.events)
          and w.created_at <= v_event.created_at  -- events after the endpoint was added
        on conflict do nothing;
        insert into public.webhook_deliveries (id, user_id, endpoint_id, target, url, salt,
            event_seq, event, job_id, payload)
        select 'msg_' || replace(gen_random_uuid()::text, '-', ''), v_event.user_id, null,
            'job', h.url, s.salt, v_event.seq, v_name, v_event.job_id, v_body
        from public.job_webhooks h
        join public.webhook_account_secrets s on s.user_id = h.user_id
        where h.job_id = v_event.job_id
        on conflict do nothing;
        update public.job_events set fanned_out = true where seq = v_event.seq;
    end loop;
    -- the log is kept a day for event streams to resume from
    delete from public.job_events where fanned_out and created_at < now() - interval '1 day';
    return v_count;
end;
$$;

create or replace function public.claim_webhook_deliveries(
    p_owner text, p_lease_seconds double precision, p_limit integer
) returns setof public.webhook_deliveries
    language plpgsql set search_path = ''
as $$
declare
    v_now timestamptz := clock_timestamp();
begin
    return query
    update public.webhook_deliveries d set lease_owner = p_owner,
        lease_expires_at = v_now + make_interval(secs => p_lease_seconds),
        attempts = d.attempts + 1
    where d.id in (
        select x.id from public.webhook_deliveries x
        where x.status = 'pending' and x.next_attempt_at <= v_now
          and (x.lease_expires_at is null or x.lease_expires_at <= v_now)
        order by x.next_attempt_at, x.created_at
        limit greatest(p_limit, 0)
        for update skip locked)
    returning d.*;
end;
$$;

-- The end of an attempt, lease-checked. A 'gone' outcome (410) disables the endpoint and
-- drops its other pending deliveries.
create or replace function public.record_webhook_attempt(
    p_id text, p_owner text, p_status text, p_next timestamptz, p_code integer, p_error text
) returns boolean
    language plpgsql set search_path = ''
as $$
declare
    v_endpoint uuid;
    v_now timestamptz := clock_timestamp();
begin
    update public.webhook_deliveries d set status = p_status,
        next_attempt_at = coalesce(p_next, v_now), lease_owner = null, lease_expires_at = null,
        last_status_code = p_code, last_error = left(p_error, 300),
        delivered_at = case when p_status = 'delivered' then v_now end
    where d.id = p_id and d.lease_owner = p_owner and d.status = 'pending'
    returning d.endpoint_id into v_endpoint;
    if not found then
        return false;
    end if;
    if p_status = 'gone' and v_endpoint is not null then
        update public.webhook_endpoints set disabled_at = v_now,
            disabled_reason = 'The endpoint answered 410 Gone.'
        where id = v_endpoint and disabled_at is null;
        update public.webhook_deliveries set status = 'gone', lease_owner = null,
            lease_expires_at = null
        where endpoint_id = v_endpoint and status = 'pending';
    end if;
    return true;
end;
$$;

-- Deleting an account (its profile row goes first, delete_account_rows) takes its event log
-- along; the webhook tables cascade from auth.users.
create or replace function public.forget_job_events() returns trigger
    language plpgsql security definer set search_path = ''
as $$
begin
    delete from public.job_events where user_id = old.id;
    return null;
end;
$$;
revoke all on function public.forget_job_events() from public, anon, authenticated;
drop trigger if exists profiles_forget_job_events on public.profiles;
create trigger profiles_forget_job_events after delete on public.profiles
    for each row execute function public.forget_job_events();

revoke all on function public.webhook_job_document(public.jobs, text),
    public.webhook_fan_out(integer),
    public.claim_webhook_deliveries(text, double precision, integer),
    public.record_webhook_attempt(text, text, text, timestamptz, integer, text)
    from public, anon, authenticated;
grant execute on function public.webhook_job_document(public.jobs, text),
    public.webhook_fan_out(integer),
    public.claim_webhook_deliveries(text, double precision, integer),
    public.record_webhook_attempt(text, text, text, timestamptz, integer, text)
    to service_role;

-- ---- edit and iterate (issue 11): lineage and stored inputs --------------------------------
-- Every job records where it came from: `kind` (generate / edit / variation / reference /
-- compare), `parent_id` (the job it was made from; NULL for a fresh prompt or an uploaded
-- image), `mask_path` (an edit's stored mask) and `reference_paths` (its other input images).
-- Inputs live under the owner's folder of the `results` bucket (`{user_id}/inputs/...`), so the
-- bucket's per-folder policies cover them.
alter table public.jobs add column if not exists parent_id uuid;
alter table public.jobs add column if not exists mask_path text;
alter table public.jobs add column if not exists reference_paths text[] not null default '{}';
alter table public.jobs drop constraint if exists jobs_kind_check;
alter table public.jobs add constraint jobs_kind_check
    check (kind in ('generate', 'edit', 'variation', 'reference', 'compare'));
alter table public.jobs drop constraint if exists jobs_reference_paths_check;
alter table public.jobs add constraint jobs_reference_paths_check
    check (cardinality(reference_paths) <= 16);
create index if not exists jobs_parent_idx on public.jobs (parent_id) where parent_id is not null;
create index if not exists jobs_input_idx on public.jobs (input_path) where input_path is not null;
create index if not exists jobs_mask_idx on public.jobs (mask_path) where mask_path is not null;
create index if not exists jobs_reference_idx on public.jobs using gin (reference_paths);

-- submit_jobs is unchanged: the server sends the lineage inside `params` under the reserved
-- key `_lineage` ({parent_id, mask_path, reference_paths}); this trigger checks it (every input
-- in the owner's folder, the parent one of the owner's jobs), moves it into the columns and
-- drops the key, so no params row ever keeps it.
create or replace function public.jobs_take_lineage() returns trigger
    language plpgsql set search_path = ''
as $$
declare
    v_lineage jsonb := new.params -> '_lineage';
    v_path text;
begin
    if v_lineage is null then
        return new;
    end if;
    new.params := new.params - '_lineage';
    if jsonb_typeof(v_lineage) is distinct from 'object'
       or jsonb_typeof(coalesce(v_lineage -> 'reference_paths', '[]')) is distinct from 'array'
    then
        raise exception using errcode = '22023', message = 'malformed lineage';
    end if;
    new.parent_id := (v_lineage ->> 'parent_id')::uuid;
    new.mask_path := v_lineage ->> 'mask_path';
    new.reference_paths := array(
        select jsonb_array_elements_text(coalesce(v_lineage -> 'reference_paths', '[]')));
    foreach v_path in array array_append(new.reference_paths, new.mask_path) loop
        if v_path is not null and (split_part(v_path, '/', 1) <> new.user_id::text
                                   or v_path like '%..%') then
            raise exception using errcode = '42501', message = 'an input image must be your own';
        end if;
    end loop;
    if new.parent_id is not null and not exists (
        select 1 from public.jobs j where j.id = new.parent_id and j.user_id = new.user_id
    ) then
        raise exception using errcode = '42501', message = 'the parent job must be your own';
    end if;
    return new;
end;
$$;
revoke all on function public.jobs_take_lineage() from public, anon, authenticated;
drop trigger if exists jobs_take_lineage on public.jobs;
create trigger jobs_take_lineage before insert on public.jobs
    for each row execute function public.jobs_take_lineage();

-- Which of these stored inputs a job row still names (the purge keeps those). Server only.
create or replace function public.inputs_in_use(p_paths text[])
returns table (path text)
    language plpgsql stable security definer set search_path = ''
as $$
begin
    if not public.is_service() then
        raise exception using errcode = '42501', message = 'the server purges inputs';
    end if;
    return query
        select j.input_path from public.jobs j where j.input_path = any(p_paths)
        union
        select j.mask_path from public.jobs j where j.mask_path = any(p_paths)
        union
        select r.p from public.jobs j cross join lateral unnest(j.reference_paths) as r(p)
        where j.reference_paths && p_paths and r.p = any(p_paths);
end;
$$;
revoke all on function public.inputs_in_use(text[]) from public, anon, authenticated;
grant execute on function public.inputs_in_use(text[]) to service_role;
grant select (parent_id, mask_path, reference_paths) on table public.jobs to authenticated;

-- History's filter by kind: list_jobs_of_kinds, a door to list_jobs_page beside list_jobs (whose
-- signature stays as it is); defined with the listing in the scale section below.

-- ---- the UI language (issue #14) -------------------------------------------------------------
-- The language a user chose for the UI, kept in the profile so every device they sign in on
-- uses it; NULL until they choose (the browser's language applies). Written by the server with
-- the service role (AccountsService.set_language checks it); users read it with their profile.
alter table public.profiles add column if not exists language text;
alter table public.profiles drop constraint if exists profiles_language_check;
alter table public.profiles add constraint profiles_language_check
    check (language is null or language in ('en', 'zh-CN'));

-- ---- favourites (issue 12): starred jobs -------------------------------------------------------
-- A job its owner starred has the time they starred it (NULL: not starred). Owners star only
-- their own jobs, through set_starred (users have no UPDATE on jobs); History filters by it
-- with list_starred_jobs (a door to list_jobs_page with the star filter: see the scale section).
alter table public.jobs add column if not exists starred_at timestamptz;
create index if not exists jobs_starred_idx on public.jobs (user_id, created_at desc, id desc)
    where starred_at is not null;
grant select (starred_at) on table public.jobs to authenticated;

create or replace function public.set_starred(p_ids uuid[], p_starred boolean) returns integer
    language plpgsql security definer set search_path = ''
as $$
declare
    v_count integer;
begin
    if cardinality(p_ids) > 500 then
        raise exception using errcode = '22023', message = 'too many jobs at once';
    end if;
    update public.jobs j
    set starred_at = case when p_starred then coalesce(j.starred_at, clock_timestamp()) end
    where j.id = any (p_ids)
      and (public.is_service() or (j.user_id = auth.uid() and public.is_active_user()));
    get diagnostics v_count = row_count;
    return v_count;
end;
$$;
revoke all on function public.set_starred(uuid[], boolean) from public, anon;
grant execute on function public.set_starred(uuid[], boolean) to authenticated, service_role;

-- ---- scale: a million jobs (issue #13) ------------------------------------------------------
-- History, Review and the admin user list stay within 50 ms of database time at 1,000,000 jobs
-- (bench/scale.py; tests/integration/test_sql_plans.py checks the plans with EXPLAIN).
--
-- Review reads done jobs by review status, oldest or newest first; the queue's "any review
-- status" view reads done jobs newest first. Each is a range of one of these indexes, read in
-- order, so a page stops after its rows instead of sorting every match.
create index if not exists jobs_review_queue_idx
    on public.jobs (status, review_status, created_at, id);
create index if not exists jobs_status_created_idx on public.jobs (status, created_at, id);
-- The queue itself (done, unreviewed) has its own small index led by created_at. Jobs are
-- stored roughly in creation order, so the planner rates a walk of jobs_all_history_idx that
-- filters on the statuses as cheap (created_at is well correlated with the table, status is
-- not) and would take it over jobs_review_queue_idx, but a queue whose oldest jobs are all
-- reviewed makes that walk read every reviewed job first. This one holds only the queue.
create index if not exists jobs_unreviewed_idx on public.jobs (created_at, id)
    where status = 'done' and review_status = 'unreviewed';

-- The listing itself, for list_jobs, list_jobs_of_kinds and list_starred_jobs (the same rules). One
-- static query per order: a `case when p_oldest_first` in ORDER BY matches no index, so the old
-- version sorted every matching row. A one-value status or review-status filter is compared
-- with `=`, which the planner treats as a constant of the index order (`= any` of one value is
-- not). Custom plans always: the plan is made for the actual filters, with the absent ones
-- folded away, instead of a generic plan that must allow for all of them.
-- (p_starred came later: the 14-argument version is dropped so no overload stays behind)
drop function if exists public.list_jobs_page(text[], uuid, text[], text[], text[], text[], text,
    uuid, timestamptz, timestamptz, boolean, timestamptz, uuid, integer);
create or replace function public.list_jobs_page(
    p_kinds text[],
    p_user_id uuid,
    p_statuses text[],
    p_providers text[],
    p_models text[],
    p_review_statuses text[],
    p_text text,
    p_batch_id uuid,
    p_created_after timestamptz,
    p_created_before timestamptz,
    p_oldest_first boolean,
    p_cursor_created_at timestamptz,
    p_cursor_id uuid,
    p_limit integer,
    p_starred boolean default false
) returns setof public.jobs
    language plpgsql stable security definer
    set search_path = '' set plan_cache_mode = force_custom_plan
as $$
declare
    v_pattern text := case when p_text is null or p_text = '' then null else
        '%' || replace(replace(replace(p_text, '\', '\\'), '%', '\%'), '_', '\_') || '%' end;
    v_full boolean := public.sees_all_jobs();
    v_uid uuid := auth.uid();
    v_statuses text[] := coalesce(p_statuses, '{}');
    v_reviews text[] := coalesce(p_review_statuses, '{}');
    v_limit integer := greatest(1, least(coalesce(p_limit, 24), 501));
begin
    if not v_full and (v_uid is null or not public.is_active_user()) then
        return;
    end if;
    if coalesce(p_oldest_first, false) then
        return query
        select m.* from public.jobs j
        cross join lateral public.job_as_seen(j, v_full) m
        where (v_full or j.user_id = v_uid)
          and (p_user_id is null or j.user_id = p_user_id)
          and (p_kinds is null or j.kind = any (p_kinds))
          and (not coalesce(p_starred, false) or j.starred_at is not null)
          and (cardinality(v_statuses) <> 1 or j.status = v_statuses[1])
          and (cardinality(v_statuses) < 2 or j.status = any (v_statuses))
          and (cardinality(p_providers) = 0 or j.provider = any (p_providers))
          and (cardinality(p_models) = 0 or j.model = any (p_models))
          and (cardinality(v_reviews) <> 1 or j.review_status = v_reviews[1])
          and (cardinality(v_reviews) < 2 or j.review_status = any (v_reviews))
          and (v_pattern is null or j.prompt ilike v_pattern)
          and (p_batch_id is null or j.batch_id = p_batch_id)
          and (p_created_after is null or j.created_at >= p_created_after)
          and (p_created_before is null or j.created_at < p_created_before)
          and (p_cursor_created_at is null
               or (j.created_at, j.id) > (p_cursor_created_at, p_cursor_id))
        order by j.created_at, j.id
        limit v_limit;
    else
        return query
        select m.* from public.jobs j
        cross join lateral public.job_as_seen(j, v_full) m
        where (v_full or j.user_id = v_uid)
          and (p_user_id is null or j.user_id = p_user_id)
          and (p_kinds is null or j.kind = any (p_kinds))
          and (not coalesce(p_starred, false) or j.starred_at is not null)
          and (cardinality(v_statuses) <> 1 or j.status = v_statuses[1])
          and (cardinality(v_statuses) < 2 or j.status = any (v_statuses))
          and (cardinality(p_providers) = 0 or j.provider = any (p_providers))
          and (cardinality(p_models) = 0 or j.model = any (p_models))
          and (cardinality(v_reviews) <> 1 or j.review_status = v_reviews[1])
          and (cardinality(v_reviews) < 2 or j.review_status = any (v_reviews))
          and (v_pattern is null or j.prompt ilike v_pattern)
          and (p_batch_id is null or j.batch_id = p_batch_id)
          and (p_created_after is null or j.created_at >= p_created_after)
          and (p_created_before is null or j.created_at < p_created_before)
          and (p_cursor_created_at is null
               or (j.created_at, j.id) < (p_cursor_created_at, p_cursor_id))
        order by j.created_at desc, j.id desc
        limit v_limit;
    end if;
end;
$$;
revoke all on function public.list_jobs_page(text[], uuid, text[], text[], text[], text[], text,
    uuid, timestamptz, timestamptz, boolean, timestamptz, uuid, integer, boolean)
    from public, anon, authenticated;

-- The two doors keep their signatures and grants; both read through list_jobs_page (as the
-- owner: they are security definer, and list_jobs_page applies the caller's rules itself).
create or replace function public.list_jobs(
    p_user_id uuid default null,
    p_statuses text[] default '{}',
    p_providers text[] default '{}',
    p_models text[] default '{}',
    p_review_statuses text[] default '{}',
    p_text text default null,
    p_batch_id uuid default null,
    p_created_after timestamptz default null,
    p_created_before timestamptz default null,
    p_oldest_first boolean default false,
    p_cursor_created_at timestamptz default null,
    p_cursor_id uuid default null,
    p_limit integer default 24
) returns setof public.jobs
    language sql stable security definer set search_path = ''
as $$
    select * from public.list_jobs_page(null, p_user_id, p_statuses, p_providers, p_models,
        p_review_statuses, p_text, p_batch_id, p_created_after, p_created_before,
        p_oldest_first, p_cursor_created_at, p_cursor_id, p_limit)
$$;

create or replace function public.list_jobs_of_kinds(
    p_kinds text[],
    p_user_id uuid default null,
    p_statuses text[] default '{}',
    p_providers text[] default '{}',
    p_models text[] default '{}',
    p_review_statuses text[] default '{}',
    p_text text default null,
    p_batch_id uuid default null,
    p_created_after timestamptz default null,
    p_created_before timestamptz default null,
    p_oldest_first boolean default false,
    p_cursor_created_at timestamptz default null,
    p_cursor_id uuid default null,
    p_limit integer default 24
) returns setof public.jobs
    language sql stable security definer set search_path = ''
as $$
    select * from public.list_jobs_page(coalesce(p_kinds, '{}'), p_user_id, p_statuses,
        p_providers, p_models, p_review_statuses, p_text, p_batch_id, p_created_after,
        p_created_before, p_oldest_first, p_cursor_created_at, p_cursor_id, p_limit)
$$;
revoke all on function public.list_jobs_of_kinds(text[], uuid, text[], text[], text[], text[], text,
    uuid, timestamptz, timestamptz, boolean, timestamptz, uuid, integer) from public, anon;
grant execute on function public.list_jobs_of_kinds(text[], uuid, text[], text[], text[], text[],
    text, uuid, timestamptz, timestamptz, boolean, timestamptz, uuid, integer)
    to authenticated, service_role;

-- History's "only favourites" (issue 12): any kind when p_kinds is empty.
create or replace function public.list_starred_jobs(
    p_kinds text[] default '{}',
    p_user_id uuid default null,
    p_statuses text[] default '{}',
    p_providers text[] default '{}',
    p_models text[] default '{}',
    p_review_statuses text[] default '{}',
    p_text text default null,
    p_batch_id uuid default null,
    p_created_after timestamptz default null,
    p_created_before timestamptz default null,
    p_oldest_first boolean default false,
    p_cursor_created_at timestamptz default null,
    p_cursor_id uuid default null,
    p_limit integer default 24
) returns setof public.jobs
    language sql stable security definer set search_path = ''
as $$
    select * from public.list_jobs_page(nullif(coalesce(p_kinds, '{}'), '{}'), p_user_id,
        p_statuses, p_providers, p_models, p_review_statuses, p_text, p_batch_id,
        p_created_after, p_created_before, p_oldest_first, p_cursor_created_at, p_cursor_id,
        p_limit, true)
$$;
revoke all on function public.list_starred_jobs(text[], uuid, text[], text[], text[], text[], text,
    uuid, timestamptz, timestamptz, boolean, timestamptz, uuid, integer) from public, anon;
grant execute on function public.list_starred_jobs(text[], uuid, text[], text[], text[], text[],
    text, uuid, timestamptz, timestamptz, boolean, timestamptz, uuid, integer)
    to authenticated, service_role;

-- The admin user list: job counts per user, kept by a statement trigger on jobs (one upsert
-- per user a statement touched, so a COPY or a purge batch costs one row per user, not per
-- job); the latest activity is one probe of jobs_history_idx per user. Rebuilt from the jobs
-- on every run of this file, under a lock that holds writers off meanwhile.
create table if not exists public.user_job_totals (
    user_id uuid primary key references auth.users (id) on delete cascade,
    jobs bigint not null default 0
);
alter table public.user_job_totals enable row level security;
revoke all on table public.user_job_totals from public, anon, authenticated;
grant select on table public.user_job_totals to service_role;

create or replace function public.jobs_count_totals() returns trigger
    language plpgsql security definer set search_path = ''
as $$
begin
    if tg_op = 'DELETE' then
        update public.user_job_totals t set jobs = t.jobs - o.n
        from (select user_id, count(*) as n from old_rows group by user_id) o
        where t.user_id = o.user_id;
    end if;
    if tg_op = 'INSERT' then
        -- only users that still exist (a job inserted for a user being deleted fails anyway)
        insert into public.user_job_totals as t (user_id, jobs)
        select n.user_id, count(*) from new_rows n
        where exists (select 1 from auth.users u where u.id = n.user_id)
        group by n.user_id
        on conflict (user_id) do update set jobs = t.jobs + excluded.jobs;
    end if;
    return null;
end;
$$;
revoke all on function public.jobs_count_totals() from public, anon, authenticated;

lock table public.jobs in share row exclusive mode;
drop trigger if exists jobs_count_totals_insert on public.jobs;
create trigger jobs_count_totals_insert after insert on public.jobs
    referencing new table as new_rows
    for each statement execute function public.jobs_count_totals();
drop trigger if exists jobs_count_totals_delete on public.jobs;
create trigger jobs_count_totals_delete after delete on public.jobs
    referencing old table as old_rows
    for each statement execute function public.jobs_count_totals();
-- jobs never change owner (no door updates user_id), which keeps the counts right
create or replace function public.jobs_keep_owner() returns trigger
    language plpgsql set search_path = ''
as $$
begin
    raise exception using errcode = '22023', message = 'a job''s owner cannot change';
end;
$$;
revoke all on function public.jobs_keep_owner() from public, anon, authenticated;
drop trigger if exists jobs_keep_owner on public.jobs;
create trigger jobs_keep_owner before update of user_id on public.jobs
    for each row when (new.user_id is distinct from old.user_id)
    execute function public.jobs_keep_owner();
delete from public.user_job_totals;
insert into public.user_job_totals (user_id, jobs)
    select j.user_id, count(*) from public.jobs j group by j.user_id;

create or replace function public.user_activity()
returns table (user_id uuid, jobs integer, last_activity timestamptz)
    language sql stable set search_path = ''
as $$
    select t.user_id, t.jobs::integer,
           (select max(j.created_at) from public.jobs j where j.user_id = t.user_id)
    from public.user_job_totals t
    where t.jobs > 0
$$;

-- ---- scale: the statistics page from daily rollups (issue 13) ------------------------------
-- job_stats aggregated every job of the range on each visit (10-13 s at 1M jobs). It now reads
-- daily rollups, kept in the same transaction as each job's insert, change or delete by
-- jobs_stats_rollup (docs/scale.md). `day` is the UTC day of the job's created_at.
--   stats_day_provider  per_day and failure rates: jobs of every status, failed ones
--   stats_day_failure   failed jobs by error code (null counts as 'unknown')
--   stats_day_latency   done jobs with both times by duration bucket (stats_latency_bucket), with
--                       the exact sum of their durations: a percentile is its bucket's mean
--   stats_day_user      the top users: jobs, done, failed
--   stats_day_spend     done jobs per provider, model and user; those with a recorded cost and
--                       its sum (cost_usd, else estimated_cost_usd)
-- Inserts and deletes are statement triggers with transition tables (a COPY or a purge batch
-- costs one upsert per touched key, not per job); a change is a row trigger that fires only when
-- the job's contribution can move (status to or from done/failed, or a done/failed job's error,
-- times or cost; or its day, provider or model), so claims, heartbeats and reviews skip it.
-- Rebuilt from the jobs on every run of this file (under the lock on jobs taken above).
create table if not exists public.stats_day_provider (
    day date not null,
    provider text not null,
    jobs bigint not null,
    failed bigint not null,
    primary key (day, provider)
);
create table if not exists public.stats_day_failure (
    day date not null,
    provider text not null,
    error_code text not null,
    jobs bigint not null,
    primary key (day, provider, error_code)
);
create table if not exists public.stats_day_latency (
    day date not null,
    provider text not null,
    bucket bigint not null,
    jobs bigint not null,
    total_us bigint not null,
    primary key (day, provider, bucket)
);
create table if not exists public.stats_day_user (
    day date not null,
    user_id uuid not null,
    jobs bigint not null,
    done bigint not null,
    failed bigint not null,
    primary key (day, user_id)
);
create table if not exists public.stats_day_spend (
    day date not null,
    provider text not null,
    model text not null,
    user_id uuid not null,
    images bigint not null,
    priced bigint not null,
    usd numeric not null,
    primary key (day, provider, model, user_id)
);
-- The same spend per week ((day - 1970-01-01) / 7: blocks of 7 days from the epoch, as SQLite).
-- It is the biggest rollup (a row per day, provider, model and user); a range reads its
-- leading days (at most 6) from stats_day_spend and its weeks from here, a third of the rows.
create table if not exists public.stats_week_spend (
    week integer not null,
    provider text not null,
    model text not null,
    user_id uuid not null,
    images bigint not null,
    priced bigint not null,
    usd numeric not null,
    primary key (week, provider, model, user_id)
);
alter table public.stats_week_spend enable row level security;
alter table public.stats_day_provider enable row level security;
alter table public.stats_day_failure enable row level security;
alter table public.stats_day_latency enable row level security;
alter table public.stats_day_user enable row level security;
alter table public.stats_day_spend enable row level security;
revoke all on table public.stats_day_provider, public.stats_day_failure,
    public.stats_day_latency, public.stats_day_user, public.stats_day_spend,
    public.stats_week_spend from public, anon, authenticated;
grant select on table public.stats_day_provider, public.stats_day_failure,
    public.stats_day_latency, public.stats_day_user, public.stats_day_spend,
    public.stats_week_spend to service_role;

-- A duration's histogram bucket: the microseconds cut to two significant digits (1,234,567 ->
-- 1,200,000; under 100 exact; -1 for any negative duration). The local backend computes the
-- same (core/backends/common.py latency_bucket, SQLite migration 012).
create or replace function public.stats_latency_bucket(p_us bigint) returns bigint
    language sql immutable parallel safe set search_path = ''
as $$
    select case when p_us < 0 then -1 when p_us < 100 then p_us
                else p_us - p_us % (10::numeric ^ (length(p_us::text) - 2))::bigint end
$$;
revoke all on function public.stats_latency_bucket(bigint) from public, anon, authenticated;

-- One function for the three triggers: the change rows `c` carry a sign s (+1 new, -1 old) and
-- every rollup adds sum(s * contribution) per key, keys in order (one lock order for all).
create or replace function public.jobs_stats_rollup() returns trigger
    language plpgsql security definer set search_path = ''
as $$
declare
    v_src text;
    v_sql text;
    v_statements text[];
begin
    if tg_level = 'ROW' then
        v_src := 'select -1 as s, o.* from (select ($1).*) o '
                 'union all select 1 as s, n.* from (select ($2).*) n';
    elsif tg_op = 'INSERT' then
        v_src := 'select 1 as s, n.* from new_rows n';
    else
        v_src := 'select -1 as s, o.* from old_rows o';
    end if;
    v_src := $q$select c.s, (c.created_at at time zone 'UTC')::date as day, c.user_id,
        c.provider, c.model, c.status, coalesce(c.error_code, 'unknown') as error_code,
        case when c.status = 'done' and c.started_at is not null and c.finished_at is not null
             then round(extract(epoch from c.finished_at - c.started_at) * 1000000)::bigint
        end as us,
        case when jsonb_typeof(c.result_meta -> 'cost_usd') = 'number'
             then (c.result_meta ->> 'cost_usd')::numeric
             when jsonb_typeof(c.result_meta -> 'estimated_cost_usd') = 'number'
             then (c.result_meta ->> 'estimated_cost_usd')::numeric
        end as usd
        from ($q$ || v_src || ') c';
    v_statements := array[
        format($q$insert into public.stats_day_provider as t (day, provider, jobs, failed)
            select x.day, x.provider, sum(x.s),
                   coalesce(sum(x.s) filter (where x.status = 'failed'), 0)
            from (%s) x group by 1, 2 order by 1, 2
            on conflict (day, provider) do update
            set jobs = t.jobs + excluded.jobs, failed = t.failed + excluded.failed$q$, v_src),
        format($q$insert into public.stats_day_user as t (day, user_id, jobs, done, failed)
            select x.day, x.user_id, sum(x.s),
                   coalesce(sum(x.s) filter (where x.status = 'done'), 0),
                   coalesce(sum(x.s) filter (where x.status = 'failed'), 0)
            from (%s) x group by 1, 2 order by 1, 2
            on conflict (day, user_id) do update
            set jobs = t.jobs + excluded.jobs, done = t.done + excluded.done,
                failed = t.failed + excluded.failed$q$, v_src),
        format($q$insert into public.stats_day_failure as t (day, provider, error_code, jobs)
            select x.day, x.provider, x.error_code, sum(x.s)
            from (%s) x where x.status = 'failed' group by 1, 2, 3 order by 1, 2, 3
            on conflict (day, provider, error_code) do update
            set jobs = t.jobs + excluded.jobs$q$, v_src),
        format($q$insert into public.stats_day_latency as t (day, provider, bucket, jobs, total_us)
            select x.day, x.provider, public.stats_latency_bucket(x.us), sum(x.s), sum(x.s * x.us)
            from (%s) x where x.us is not null group by 1, 2, 3 order by 1, 2, 3
            on conflict (day, provider, bucket) do update
            set jobs = t.jobs + excluded.jobs, total_us = t.total_us + excluded.total_us$q$,
            v_src),
        format($q$insert into public.stats_day_spend as t
                (day, provider, model, user_id, images, priced, usd)
            select x.day, x.provider, x.model, x.user_id, sum(x.s),
                   coalesce(sum(x.s) filter (where x.usd is not null), 0),
                   coalesce(sum(x.s * x.usd), 0)
            from (%s) x where x.status = 'done' group by 1, 2, 3, 4 order by 1, 2, 3, 4
            on conflict (day, provider, model, user_id) do update
            set images = t.images + excluded.images, priced = t.priced + excluded.priced,
                usd = t.usd + excluded.usd$q$, v_src),
        format($q$insert into public.stats_week_spend as t
                (week, provider, model, user_id, images, priced, usd)
            select (x.day - date '1970-01-01') / 7, x.provider, x.model, x.user_id, sum(x.s),
                   coalesce(sum(x.s) filter (where x.usd is not null), 0),
                   coalesce(sum(x.s * x.usd), 0)
            from (%s) x where x.status = 'done' group by 1, 2, 3, 4 order by 1, 2, 3, 4
            on conflict (week, provider, model, user_id) do update
            set images = t.images + excluded.images, priced = t.priced + excluded.priced,
                usd = t.usd + excluded.usd$q$, v_src)];
    if tg_op = 'DELETE' then
        -- the rows of the deleted jobs' keys that reached zero go (a change leaves them: the
        -- readers skip empty rows)
        v_statements := v_statements || array[
            format($q$delete from public.stats_day_provider t
                using (select distinct x.day, x.provider from (%s) x) k
                where t.day = k.day and t.provider = k.provider and t.jobs <= 0$q$, v_src),
            format($q$delete from public.stats_day_user t
                using (select distinct x.day, x.user_id from (%s) x) k
                where t.day = k.day and t.user_id = k.user_id and t.jobs <= 0$q$, v_src),
            format($q$delete from public.stats_day_failure t
                using (select distinct x.day, x.provider, x.error_code from (%s) x
                       where x.status = 'failed') k
                where t.day = k.day and t.provider = k.provider
                  and t.error_code = k.error_code and t.jobs <= 0$q$, v_src),
            format($q$delete from public.stats_day_latency t
                using (select distinct x.day, x.provider from (%s) x where x.us is not null) k
                where t.day = k.day and t.provider = k.provider and t.jobs <= 0$q$, v_src),
            format($q$delete from public.stats_day_spend t
                using (select distinct x.day, x.provider, x.model, x.user_id from (%s) x
                       where x.status = 'done') k
                where t.day = k.day and t.provider = k.provider and t.model = k.model
                  and t.user_id = k.user_id and t.images <= 0$q$, v_src),
            format($q$delete from public.stats_week_spend t
                using (select distinct (x.day - date '1970-01-01') / 7 as week, x.provider,
                              x.model, x.user_id from (%s) x where x.status = 'done') k
                where t.week = k.week and t.provider = k.provider and t.model = k.model
                  and t.user_id = k.user_id and t.images <= 0$q$, v_src)];
    end if;
    foreach v_sql in array v_statements loop
        if tg_level = 'ROW' then
            execute v_sql using old, new;
        else
            execute v_sql;
        end if;
    end loop;
    return null;
end;
$$;
revoke all on function public.jobs_stats_rollup() from public, anon, authenticated;

create or replace function public.jobs_stats_truncate() returns trigger
    language plpgsql security definer set search_path = ''
as $$
begin
    truncate public.stats_day_provider, public.stats_day_failure, public.stats_day_latency,
        public.stats_day_user, public.stats_day_spend, public.stats_week_spend;
    return null;
end;
$$;
revoke all on function public.jobs_stats_truncate() from public, anon, authenticated;

lock table public.jobs in share row exclusive mode;
drop trigger if exists jobs_stats_insert on public.jobs;
create trigger jobs_stats_insert after insert on public.jobs
    referencing new table as new_rows
    for each statement execute function public.jobs_stats_rollup();
drop trigger if exists jobs_stats_delete on public.jobs;
create trigger jobs_stats_delete after delete on public.jobs
    referencing old table as old_rows
    for each statement execute function public.jobs_stats_rollup();
drop trigger if exists jobs_stats_update on public.jobs;
create trigger jobs_stats_update
    after update of created_at, provider, model, user_id, status, error_code, started_at,
        finished_at, result_meta on public.jobs
    for each row when (
        new.created_at is distinct from old.created_at
        or new.provider is distinct from old.provider or new.model is distinct from old.model
        or new.user_id is distinct from old.user_id
        or ((old.status in ('done', 'failed') or new.status in ('done', 'failed'))
            and (new.status is distinct from old.status
                 or new.error_code is distinct from old.error_code
                 or new.started_at is distinct from old.started_at
                 or new.finished_at is distinct from old.finished_at
                 or new.result_meta is distinct from old.result_meta)))
    execute function public.jobs_stats_rollup();
drop trigger if exists jobs_stats_truncate on public.jobs;
create trigger jobs_stats_truncate after truncate on public.jobs
    for each statement execute function public.jobs_stats_truncate();

-- The backfill: right straight after an upgrade, and again on every run.
truncate public.stats_day_provider, public.stats_day_failure, public.stats_day_latency,
    public.stats_day_user, public.stats_day_spend, public.stats_week_spend;
with c as (
    select (j.created_at at time zone 'UTC')::date as day, j.user_id, j.provider, j.model,
           j.status, coalesce(j.error_code, 'unknown') as error_code,
           case when j.status = 'done' and j.started_at is not null and j.finished_at is not null
                then round(extract(epoch from j.finished_at - j.started_at) * 1000000)::bigint
           end as us,
           case when jsonb_typeof(j.result_meta -> 'cost_usd') = 'number'
                then (j.result_meta ->> 'cost_usd')::numeric
                when jsonb_typeof(j.result_meta -> 'estimated_cost_usd') = 'number'
                then (j.result_meta ->> 'estimated_cost_usd')::numeric
           end as usd
    from public.jobs j
), p as (
    insert into public.stats_day_provider (day, provider, jobs, failed)
    select c.day, c.provider, count(*), count(*) filter (where c.status = 'failed')
    from c group by 1, 2
), f as (
    insert into public.stats_day_failure (day, provider, error_code, jobs)
    select c.day, c.provider, c.error_code, count(*) from c where c.status = 'failed'
    group by 1, 2, 3
), l as (
    insert into public.stats_day_latency (day, provider, bucket, jobs, total_us)
    select c.day, c.provider, public.stats_latency_bucket(c.us), count(*), sum(c.us)
    from c where c.us is not null group by 1, 2, 3
), u as (
    insert into public.stats_day_user (day, user_id, jobs, done, failed)
    select c.day, c.user_id, count(*), count(*) filter (where c.status = 'done'),
           count(*) filter (where c.status = 'failed')
    from c group by 1, 2
)
insert into public.stats_day_spend (day, provider, model, user_id, images, priced, usd)
select c.day, c.provider, c.model, c.user_id, count(*), count(c.usd), coalesce(sum(c.usd), 0)
from c where c.status = 'done' group by 1, 2, 3, 4;
insert into public.stats_week_spend (week, provider, model, user_id, images, priced, usd)
select (s.day - date '1970-01-01') / 7, s.provider, s.model, s.user_id, sum(s.images),
       sum(s.priced), sum(s.usd)
from public.stats_day_spend s group by 1, 2, 3, 4;
-- fresh planner statistics for the new rows (a later autovacuum would take them too)
analyze public.stats_day_provider, public.stats_day_failure, public.stats_day_latency,
    public.stats_day_user, public.stats_day_spend, public.stats_week_spend;

-- Admin page figures for jobs created from the UTC day of p_since on, as one JSON document,
-- from the rollups ('since' is that day; spend: leading days daily, then whole weeks). 'latency' is each provider's duration histogram:
-- [bucket, jobs, total_us] in bucket order; the server takes the percentiles.
-- work_mem: the spend rows (up to ~60,000 at 1M jobs) are grouped in memory, not sorted on disk.
create or replace function public.job_stats(p_since timestamptz, p_top_users integer default 10)
returns jsonb
    language sql stable set search_path = '' set work_mem = '64MB'
as $$
    select jsonb_build_object(
        'since', d0.day,
        'per_day', coalesce((
            select jsonb_agg(jsonb_build_object('day', p.day, 'provider', p.provider,
                                                'jobs', p.jobs, 'failed', p.failed)
                             order by p.day, p.provider)
            from public.stats_day_provider p where p.day >= d0.day and p.jobs > 0), '[]'),
        'failures', coalesce((
            select jsonb_agg(f order by f.jobs desc, f.provider, f.error_code) from (
                select s.provider, s.error_code, sum(s.jobs) as jobs
                from public.stats_day_failure s where s.day >= d0.day
                group by 1, 2 having sum(s.jobs) > 0) f), '[]'),
        'latency', coalesce((
            select jsonb_object_agg(h.provider, h.buckets) from (
                select b.provider,
                       jsonb_agg(jsonb_build_array(b.bucket, b.jobs, b.total_us)
                                 order by b.bucket) as buckets
                from (select s.provider, s.bucket, sum(s.jobs) as jobs,
                             sum(s.total_us) as total_us
                      from public.stats_day_latency s where s.day >= d0.day
                      group by 1, 2 having sum(s.jobs) > 0) b
                group by 1) h), '{}'),
        'top_users', coalesce((
            select jsonb_agg(u order by u.jobs desc, u.user_id) from (
                select s.user_id, sum(s.jobs) as jobs, sum(s.done) as done,
                       sum(s.failed) as failed
                from public.stats_day_user s where s.day >= d0.day
                group by 1 having sum(s.jobs) > 0
                order by 2 desc, 1 limit p_top_users) u), '[]'),
        'spend', coalesce((
            select jsonb_agg(s order by s.provider, s.model, s.user_id) from (
                select r.provider, r.model, r.user_id, sum(r.images) as images,
                       sum(r.priced) as priced,
                       case when sum(r.priced) > 0 then sum(r.usd) else 0 end as recorded_usd
                from (select d.provider, d.model, d.user_id, d.images, d.priced, d.usd
                      from public.stats_day_spend d
                      where d.day >= d0.day and d.day < date '1970-01-01' + d0.week * 7
                      union all
                      select w.provider, w.model, w.user_id, w.images, w.priced, w.usd
                      from public.stats_week_spend w where w.week >= d0.week) r
                group by 1, 2, 3 having sum(r.images) > 0) s), '[]'))
    from (select (p_since at time zone 'UTC')::date as day,
                 ((p_since at time zone 'UTC')::date - date '1970-01-01' + 6) / 7 as week) d0
$$;

-- Tell PostgREST to pick up the new functions and grants now (Supabase also does this itself
-- after DDL; on a plain Postgres nobody listens and this does nothing).
notify pgrst, 'reload schema';

commit;
