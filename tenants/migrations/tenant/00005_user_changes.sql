-- Every change that can make a token's user unknown (deleted, deactivated,
-- renamed, renumbered, truncated) is announced to every strictmt process,
-- which forgets the user at once (public.strictmt_user_changed, shared
-- migration 00003).
CREATE TRIGGER users_changed AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION public.strictmt_user_changed();
CREATE TRIGGER users_truncated AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION public.strictmt_user_changed();
