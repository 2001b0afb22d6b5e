-- Two unique keys on attendance_events cost every insert an index entry for nothing:
-- * UNIQUE (org_id, id) was there for composite foreign keys that no table declares; the
--   primary key already makes id unique, and every look-up by id names org_id beside it.
-- * UNIQUE (photo_id) indexed every event, although most carry no photo: the same rule as
--   a partial index holds entries only for events with a photo. `ON CONFLICT DO NOTHING`
--   (no target) still skips an event whose photo is taken, as the batch insert relies on.
ALTER TABLE attendance_events DROP CONSTRAINT attendance_events_org_id_id_key;
ALTER TABLE attendance_events DROP CONSTRAINT attendance_events_photo_unique;
CREATE UNIQUE INDEX attendance_events_photo_unique ON attendance_events (photo_id) WHERE photo_id IS NOT NULL;
