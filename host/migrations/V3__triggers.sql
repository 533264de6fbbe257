-- Triggers (ADF's factories/{factory}/triggers) and their runs.
--
-- A trigger's definition is a row of sluice.definitions (kind 'triggers'), as pipelines are;
-- its runtime state (Started/Stopped, ADF's `runtimeState`) is kept beside it so a PUT of the
-- definition does not start or stop it.
--
-- sluice.trigger_runs holds one row per fire instant of a schedule trigger and one per window
-- of a tumbling window trigger. Its unique key (factory, trigger, scheduled_time) is what makes
-- firing exactly once across any number of `sluice serve` processes: the row that claims an
-- instant and the pipeline run(s) it starts are written in one transaction.
-- status: 'Waiting' (a window not started yet: concurrency, dependency, retry back-off or a
-- rerun asked for), 'Inprogress', 'Succeeded', 'Failed' (ADF's TriggerRunStatus plus Waiting).

ALTER TABLE sluice.definitions DROP CONSTRAINT definitions_kind_check;
ALTER TABLE sluice.definitions ADD CONSTRAINT definitions_kind_check
    CHECK (kind IN ('pipelines', 'datasets', 'linkedservices', 'triggers'));

CREATE TABLE sluice.trigger_states (
    factory_id uuid NOT NULL REFERENCES sluice.factories (id) ON DELETE CASCADE,
    -- lower(name) of the trigger
    trigger_key text NOT NULL,
    runtime_state text NOT NULL CHECK (runtime_state IN ('Started', 'Stopped')),
    -- When it was last started: schedule instants before it are never fired (ADF does not
    -- replay a schedule's missed instants); tumbling windows are backfilled from startTime.
    started_at timestamptz NULL,
    PRIMARY KEY (factory_id, trigger_key)
);

CREATE TABLE sluice.trigger_runs (
    trigger_run_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES sluice.tenants (id) ON DELETE CASCADE,
    factory_id uuid NOT NULL REFERENCES sluice.factories (id) ON DELETE CASCADE,
    trigger_name text NOT NULL,
    trigger_type text NOT NULL,
    -- The schedule instant, or the window's start.
    scheduled_time timestamptz NOT NULL,
    window_end timestamptz NULL,
    trigger_run_timestamp timestamptz NOT NULL DEFAULT now(),
    status text NOT NULL CHECK (status IN ('Waiting', 'Inprogress', 'Succeeded', 'Failed')),
    -- Attempts made (a tumbling window's retryPolicy.count bounds the retries).
    attempt integer NOT NULL DEFAULT 0,
    -- A Waiting window is not started before this (retry back-off).
    not_before timestamptz NULL,
    -- ADF's triggeredPipelines: pipeline name -> pipeline run id.
    triggered_pipelines jsonb NOT NULL DEFAULT '{}',
    -- ADF's properties (TriggerTime, ScheduleTime, windowStartTime, windowEndTime, ...).
    properties jsonb NOT NULL DEFAULT '{}',
    message text NOT NULL DEFAULT '',
    last_updated timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX trigger_runs_once
    ON sluice.trigger_runs (factory_id, lower(trigger_name), scheduled_time);
CREATE INDEX trigger_runs_tenant ON sluice.trigger_runs (tenant_id, trigger_run_timestamp);
CREATE INDEX trigger_runs_waiting ON sluice.trigger_runs (factory_id) WHERE status IN ('Waiting', 'Inprogress');

-- What `@trigger()` reads in a run a trigger started (null for manual runs).
ALTER TABLE sluice.runs ADD COLUMN trigger_info jsonb NULL;
