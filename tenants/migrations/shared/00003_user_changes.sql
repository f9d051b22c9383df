-- +goose Up
-- strictmt_user_changed announces on the strictmt_users channel that a
-- tenant's user was deleted, deactivated, renamed or renumbered (payload
-- "<schema>:<id>"; "<schema>:*" when the table was truncated), so that
-- every process forgets at once what it remembered of that user (the
-- token check's users, see tenancy/users.go). The tenant migration
-- 00005_user_changes puts it on every tenant's users table.
-- +goose StatementBegin
CREATE FUNCTION public.strictmt_user_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('strictmt_users', TG_TABLE_SCHEMA || ':*');
    ELSIF TG_OP = 'DELETE'
       OR NEW.id IS DISTINCT FROM OLD.id
       OR NEW.is_active IS DISTINCT FROM OLD.is_active
       OR NEW.username IS DISTINCT FROM OLD.username THEN
        PERFORM pg_notify('strictmt_users', TG_TABLE_SCHEMA || ':' || OLD.id);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION public.strictmt_user_changed() CASCADE;
