-- isLatest (no later run in the run's group) is computed for every run read; without this
-- index each read scanned all runs.
CREATE INDEX runs_group ON sluice.runs (run_group_id, queued_at);
