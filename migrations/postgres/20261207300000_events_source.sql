-- Who wrote an event (API.md "Shifts and the attendance day"): the phone (`device`), the
-- server closing a day left open (`auto`), or an approved attendance request (`request`).
-- Every event before this migration came from a phone or from an approval, and an
-- approval's event is the one with a `request_id`.
ALTER TABLE attendance_events ADD COLUMN source text NOT NULL DEFAULT 'device'
    CHECK (source IN ('device', 'auto', 'request'));
UPDATE attendance_events SET source = 'request' WHERE request_id IS NOT NULL;
