-- The control database of the Sluice service (host/src/service/control): tenants, their
-- factories, definitions and plugins, pipeline runs and activity runs, the run slots that
-- hold each tenant to its max_concurrent_runs, and the workers. Names are case-insensitive
-- as in ADF: stored as given, unique on lower(name). The run queue itself is graphile_worker's
-- (schema graphile_worker), migrated by the crate.

CREATE SCHEMA IF NOT EXISTS sluice;

CREATE TABLE sluice.tenants (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    subscription_id uuid NOT NULL UNIQUE,
    token_hash bytea NOT NULL UNIQUE,
    max_concurrent_runs integer NOT NULL DEFAULT 4 CHECK (max_concurrent_runs > 0),
    plugin_memory_mib integer NULL CHECK (plugin_memory_mib > 0),
    plugin_call_timeout_ms bigint NULL CHECK (plugin_call_timeout_ms > 0),
    requests_per_second integer NOT NULL DEFAULT 200 CHECK (requests_per_second > 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tenants_name ON sluice.tenants (lower(name));

-- A factory has a surrogate id so that its definitions, plugins and runs go with it.
CREATE TABLE sluice.factories (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES sluice.tenants (id) ON DELETE CASCADE,
    resource_group text NOT NULL,
    name text NOT NULL,
    location text NULL,
    tags jsonb NOT NULL DEFAULT '{}',
    properties jsonb NOT NULL DEFAULT '{}',
    etag uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX factories_name ON sluice.factories (tenant_id, lower(resource_group), lower(name));

-- body: the ADF resource ({"properties": ...}) with SecureString values sealed.
CREATE TABLE sluice.definitions (
    factory_id uuid NOT NULL REFERENCES sluice.factories (id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('pipelines', 'datasets', 'linkedservices')),
    name text NOT NULL,
    body jsonb NOT NULL,
    etag uuid NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX definitions_name ON sluice.definitions (factory_id, kind, lower(name));

CREATE TABLE sluice.plugins (
    factory_id uuid NOT NULL REFERENCES sluice.factories (id) ON DELETE CASCADE,
    tenant_id uuid NOT NULL REFERENCES sluice.tenants (id) ON DELETE CASCADE,
    name text NOT NULL,
    version text NOT NULL,
    sha256 text NOT NULL,
    size bigint NOT NULL,
    bytes bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (factory_id, name, version)
);
CREATE INDEX plugins_sha256 ON sluice.plugins (tenant_id, sha256);

CREATE TABLE sluice.runs (
    run_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES sluice.tenants (id) ON DELETE CASCADE,
    factory_id uuid NOT NULL REFERENCES sluice.factories (id) ON DELETE CASCADE,
    resource_group text NOT NULL,
    factory text NOT NULL,
    pipeline_name text NOT NULL,
    run_group_id uuid NOT NULL,
    parameters jsonb NOT NULL DEFAULT '{}',
    status text NOT NULL CHECK (status IN ('Queued', 'InProgress', 'Succeeded', 'Failed', 'Canceling', 'Cancelled')),
    message text NOT NULL DEFAULT '',
    invoked_by jsonb NOT NULL,
    is_recovery boolean NOT NULL DEFAULT false,
    reference_run_id uuid NULL,
    start_activity text NULL,
    start_from_failure boolean NOT NULL DEFAULT false,
    run_start timestamptz NULL,
    run_end timestamptz NULL,
    queued_at timestamptz NOT NULL DEFAULT now(),
    last_updated timestamptz NOT NULL DEFAULT now(),
    worker text NULL,
    lease_until timestamptz NULL,
    cancel_requested boolean NOT NULL DEFAULT false,
    annotations jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX runs_status ON sluice.runs (tenant_id, status);
CREATE INDEX runs_queued ON sluice.runs (tenant_id, queued_at);
CREATE INDEX runs_updated ON sluice.runs (factory_id, last_updated);
CREATE INDEX runs_leases ON sluice.runs (lease_until) WHERE status IN ('InProgress', 'Canceling');

CREATE TABLE sluice.activity_runs (
    activity_run_id uuid PRIMARY KEY,
    run_id uuid NOT NULL REFERENCES sluice.runs (run_id) ON DELETE CASCADE,
    seq bigserial NOT NULL,
    activity_name text NOT NULL,
    activity_type text NOT NULL,
    status text NOT NULL,
    activity_run_start timestamptz NOT NULL,
    activity_run_end timestamptz NULL,
    duration_ms bigint NULL,
    input jsonb NOT NULL DEFAULT '{}',
    output jsonb NOT NULL DEFAULT '{}',
    error jsonb NOT NULL DEFAULT '{}',
    retry_attempt integer NULL,
    linked_service_name text NULL,
    last_updated timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX activity_runs_run ON sluice.activity_runs (run_id, seq);

-- One row per run slot of a tenant (created as needed up to max_concurrent_runs); a slot is
-- free when run_id is null or its lease has expired.
CREATE TABLE sluice.tenant_slots (
    tenant_id uuid NOT NULL REFERENCES sluice.tenants (id) ON DELETE CASCADE,
    slot integer NOT NULL,
    run_id uuid NULL REFERENCES sluice.runs (run_id) ON DELETE SET NULL,
    worker text NULL,
    lease_until timestamptz NULL,
    PRIMARY KEY (tenant_id, slot)
);

-- Who held which slot when: the record the limits are checked against.
CREATE TABLE sluice.slot_history (
    tenant_id uuid NOT NULL REFERENCES sluice.tenants (id) ON DELETE CASCADE,
    run_id uuid NOT NULL,
    slot integer NOT NULL,
    worker text NOT NULL,
    acquired_at timestamptz NOT NULL,
    released_at timestamptz NULL
);
CREATE INDEX slot_history_run ON sluice.slot_history (run_id) WHERE released_at IS NULL;
CREATE INDEX slot_history_tenant ON sluice.slot_history (tenant_id, acquired_at);

CREATE TABLE sluice.workers (
    id text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    draining boolean NOT NULL DEFAULT false
);
