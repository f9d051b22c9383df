-- Lists are ordered by created_at then id (newest first by default): with
-- both in one index PostgreSQL reads a page straight from the index
-- instead of sorting every row.
CREATE INDEX todos_created_at_id_idx ON todos (created_at, id);
DROP INDEX todos_created_at_idx;
CREATE INDEX projects_created_at_id_idx ON projects (created_at, id);
DROP INDEX projects_created_at_idx;
CREATE INDEX tasks_created_at_id_idx ON tasks (created_at, id);
DROP INDEX tasks_created_at_idx;
