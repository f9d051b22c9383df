-- Every index of a table costs each backend that plans a statement over
-- the table a relation-cache entry for that schema, kept for the backend's
-- life, whether a plan uses the index or not: 3 to 4.5 KB an index. These
-- two do not pay that back at a tenant's sizes (docs/BENCHMARKS.md,
-- "Footprint per schema"). todos_completed_idx only ever served the count
-- of a ?completed= list (the page is read through todos_created_at_id_idx
-- either way), from about 200 todos on, and saves 0.02 ms at 500 todos,
-- 0.16 ms at 5,000. projects_created_at_id_idx is in no plan with up to 5
-- projects and saves 0.1 ms at 500 projects. Every list of todos or tasks
-- and every project's analytics plans todos; every list of projects or
-- tasks plans projects.
DROP INDEX todos_completed_idx;
DROP INDEX projects_created_at_id_idx;
