-- +goose Up
-- A tenant's state: active (served), read_only (maintenance: reads
-- served, writes refused with 503) or suspended (its API refused with 403,
-- its data kept). state_reason is for operators only; state_until, when
-- set, ends the state at that time (the tenant is active again);
-- purge_after, only for a suspended tenant, is when `strictmt tenants
-- purge` may delete it.
ALTER TABLE public.clients
    ADD COLUMN state        varchar(16)  NOT NULL DEFAULT 'active',
    ADD COLUMN state_reason varchar(500) NOT NULL DEFAULT '',
    ADD COLUMN state_until  timestamptz,
    ADD COLUMN purge_after  timestamptz,
    ADD CONSTRAINT clients_state_check CHECK (state IN ('active', 'read_only', 'suspended')),
    ADD CONSTRAINT clients_purge_after_check CHECK (purge_after IS NULL OR state = 'suspended');

-- +goose Down
ALTER TABLE public.clients
    DROP CONSTRAINT clients_purge_after_check,
    DROP CONSTRAINT clients_state_check,
    DROP COLUMN purge_after,
    DROP COLUMN state_until,
    DROP COLUMN state_reason,
    DROP COLUMN state;
