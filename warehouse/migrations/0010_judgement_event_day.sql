-- The day an article's headline or lead dates its event to (pipeline.eventday): an article dated two or more days
-- after an incident's day reports another event and does not join it. NULL: the text names no such day (and every
-- article judged before this column existed).
ALTER TABLE judgements ADD COLUMN event_day DATE;
