-- Todos imported from the Django application have no owner (it had none):
-- owner_id becomes nullable. Any user of the tenant may change or delete
-- an ownerless todo, as in that application.
ALTER TABLE todos ALTER COLUMN owner_id DROP NOT NULL;
