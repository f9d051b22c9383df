-- A tenant cloned without its users keeps its projects, with no owner:
-- owner_id becomes nullable. Deleting a user still deletes the projects
-- they own (ON DELETE CASCADE, unchanged).
ALTER TABLE projects ALTER COLUMN owner_id DROP NOT NULL;
