-- +goose Up
-- The tenant migrations each tenant schema has applied, as last recorded,
-- so that a no-op migrate reads them for every tenant in one query instead
-- of opening every schema's version table. The per-schema version table
-- stays the truth; a record is only a copy of it, believed while both
-- hold:
-- - no write to the version table happened since it was recorded: the
--   trigger strictmt_versions_changed, on every statement that changes
--   the table (INSERT, UPDATE, DELETE, TRUNCATE, COPY; ENABLE ALWAYS, so
--   session_replication_role = replica does not silence it), deletes the
--   schema's record in the writing transaction;
-- - its fingerprint still matches: the version table's oid, the trigger's
--   oid and the trigger's catalog row version (xmin), so a dropped and
--   re-created table, a dropped, replaced, disabled or re-enabled trigger
--   (whatever may have been written meanwhile) all invalidate it.
-- tenant_versions_current lists the records that are believed.
CREATE TABLE public.tenant_versions (
    schema_name varchar(63) PRIMARY KEY,
    versions    bigint[]    NOT NULL,
    fingerprint text        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- +goose StatementBegin
CREATE FUNCTION public.strictmt_versions_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    DELETE FROM public.tenant_versions WHERE schema_name = TG_TABLE_SCHEMA;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE VIEW public.tenant_versions_current AS
SELECT v.schema_name, v.versions
FROM public.tenant_versions v
JOIN pg_catalog.pg_namespace n ON n.nspname = v.schema_name
JOIN pg_catalog.pg_class t ON t.relnamespace = n.oid AND t.relname = 'goose_db_version' AND t.relkind = 'r'
JOIN pg_catalog.pg_trigger g ON g.tgrelid = t.oid AND g.tgname = 'strictmt_versions_changed' AND g.tgenabled = 'A'
WHERE v.fingerprint = t.oid::text || '/' || g.oid::text || '/' || g.xmin::text;

-- strictmt_record_versions(schema) records what schema's version table
-- holds now (nothing when it has none). It locks the table against
-- writers first (SHARE ROW EXCLUSIVE, until the calling transaction
-- ends), so a concurrent write either committed before the read or comes
-- after the record, and then its trigger deletes it.
-- +goose StatementBegin
CREATE FUNCTION public.strictmt_record_versions(schema text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    tbl regclass := to_regclass(format('%I.goose_db_version', schema));
    vs  bigint[];
BEGIN
    IF tbl IS NULL THEN
        RETURN;
    END IF;
    EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', tbl);
    EXECUTE format('CREATE OR REPLACE TRIGGER strictmt_versions_changed
        AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s
        FOR EACH STATEMENT EXECUTE FUNCTION public.strictmt_versions_changed()', tbl);
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER strictmt_versions_changed', tbl);
    EXECUTE format('SELECT coalesce(array_agg(DISTINCT version_id ORDER BY version_id)
        FILTER (WHERE is_applied AND version_id > 0), ''{}'') FROM %s', tbl) INTO vs;
    INSERT INTO public.tenant_versions AS r (schema_name, versions, fingerprint)
    SELECT schema, vs, t.oid::text || '/' || g.oid::text || '/' || g.xmin::text
    FROM pg_catalog.pg_class t
    JOIN pg_catalog.pg_trigger g ON g.tgrelid = t.oid AND g.tgname = 'strictmt_versions_changed'
    WHERE t.oid = tbl
    ON CONFLICT (schema_name) DO UPDATE
        SET versions = EXCLUDED.versions, fingerprint = EXCLUDED.fingerprint, recorded_at = now();
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION public.strictmt_record_versions(text);
DROP VIEW public.tenant_versions_current;
DROP TABLE public.tenant_versions;
DROP FUNCTION public.strictmt_versions_changed() CASCADE;
