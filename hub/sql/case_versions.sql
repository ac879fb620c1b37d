-- A version per case state (issue 14): incremented by every save, so a process may keep the
-- states it parsed and reuse one while the row still carries the version it was read at
-- (hub/adapters/case_store.py). The row stays authoritative: a save by any process, in any
-- transaction that commits, moves the version on, and a cached state is used only when its
-- version equals the row's, read under the row lock.
ALTER TABLE cases ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 0;
