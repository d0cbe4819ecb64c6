-- Per-domain media latching (DESIGN.md section 15): 'strict' (only the leg's signalling or
-- SDP address, the default) or 'any'.
ALTER TABLE domains ADD COLUMN latching TEXT NOT NULL DEFAULT 'strict';
