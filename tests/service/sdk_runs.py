"""Runs through Microsoft's own SDK (needs workers): run a copy with parameters, poll it, query
pipeline runs and activity runs, cancel a long run, rerun a failed run with isRecovery.

For the lead's worker test, which must provide:
- the environment of sdk_common.py (SLUICE_API_URL, SLUICE_CA, SLUICE_TOKEN,
  SLUICE_SUBSCRIPTION, SLUICE_PG_CONNECTION pointing at the database below);
- in that database, schema `sdk` with table `sdk.source` (3 rows) and `sdk.sink` (same
  columns, empty), and NO table `sdk.later`;
- stdin: when the script prints the line CREATE_LATER (its first run of pipeline Late has
  failed because sdk.later is missing), create `sdk.later` like sdk.source, then write one
  line to the script's stdin; it then reruns the failed run with isRecovery.
The script ends with "sdk_runs: all passed" (exit status 0) or an AssertionError."""

import time
from datetime import datetime, timedelta, timezone

from azure.mgmt.datafactory import models as m

from sdk_common import check, client, copy_pipeline, env, postgres_linked_service, table_dataset

RG = "rg-runs"
FACTORY = "sdk-runs"
DONE = {"Succeeded", "Failed", "Cancelled"}


def wait_for(adf, run_id, want, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        run = adf.pipeline_runs.get(RG, FACTORY, run_id)
        if run.status in want:
            return run
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not reach {want} in {seconds} s (last: {run.status})")


def window():
    now = datetime.now(timezone.utc)
    return now - timedelta(hours=1), now + timedelta(hours=1)


def main():
    adf = client()
    adf.factories.create_or_update(RG, FACTORY, m.Factory(location="local"))
    adf.linked_services.create_or_update(RG, FACTORY, "Pg", postgres_linked_service(env("SLUICE_PG_CONNECTION")))
    adf.datasets.create_or_update(RG, FACTORY, "Source", table_dataset("Pg", "sdk", "source"))
    adf.datasets.create_or_update(RG, FACTORY, "Sink", table_dataset("Pg", "sdk", "sink"))
    adf.datasets.create_or_update(RG, FACTORY, "Later", table_dataset("Pg", "sdk", "later"))
    params = {"note": m.ParameterSpecification(type="String", default_value="none")}
    adf.pipelines.create_or_update(
        RG, FACTORY, "Copy", copy_pipeline("Source", "Sink", params, pre_copy="TRUNCATE sdk.sink")
    )

    # A run with parameters, polled to the end.
    created = adf.pipelines.create_run(RG, FACTORY, "Copy", parameters={"note": "from the SDK"})
    check(bool(created.run_id), "createRun answers a runId")
    run = wait_for(adf, created.run_id, DONE)
    check(run.status == "Succeeded", f"the run succeeded ({run.status}: {run.message})")
    check(run.parameters.get("note") == "from the SDK", "the run shows its parameters")
    check(run.run_start and run.run_end and run.duration_in_ms is not None, "start, end and duration")
    check(run.pipeline_name == "Copy" and run.run_group_id, "pipeline name and run group")

    after, before = window()
    runs = adf.pipeline_runs.query_by_factory(
        RG, FACTORY,
        m.RunFilterParameters(
            last_updated_after=after, last_updated_before=before,
            filters=[m.RunQueryFilter(operand="PipelineName", operator="Equals", values_property=["Copy"])],
            order_by=[m.RunQueryOrderBy(order_by="RunStart", order="DESC")],
        ),
    )
    check(created.run_id in [r.run_id for r in runs.value], "queryPipelineRuns finds the run")

    acts = adf.activity_runs.query_by_pipeline_run(
        RG, FACTORY, created.run_id, m.RunFilterParameters(last_updated_after=after, last_updated_before=before)
    )
    copy = [a for a in acts.value if a.activity_name == "CopyRows"]
    check(len(copy) == 1 and copy[0].status == "Succeeded", "queryActivityruns shows the copy")
    check(copy[0].output and copy[0].output.get("rowsCopied") == 3, f"the copy's output: {copy[0].output}")

    # A long run, cancelled.
    adf.pipelines.create_or_update(
        RG, FACTORY, "Sleep",
        m.PipelineResource(properties=m.Pipeline(activities=[{"name": "Nap", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 300}}])),
    )
    long = adf.pipelines.create_run(RG, FACTORY, "Sleep")
    wait_for(adf, long.run_id, {"InProgress"})
    adf.pipeline_runs.cancel(RG, FACTORY, long.run_id, is_recursive=True)
    run = wait_for(adf, long.run_id, DONE, seconds=30)
    check(run.status == "Cancelled", f"the long run was cancelled ({run.status})")

    # A run that fails (its source table does not exist yet), then recovered from the failure.
    adf.pipelines.create_or_update(
        RG, FACTORY, "Late", copy_pipeline("Later", "Sink", pre_copy="TRUNCATE sdk.sink")
    )
    failed = adf.pipelines.create_run(RG, FACTORY, "Late")
    run = wait_for(adf, failed.run_id, DONE)
    check(run.status == "Failed", f"the run fails while sdk.later is missing ({run.status})")
    print("CREATE_LATER", flush=True)  # the Rust side creates sdk.later when it reads this line
    input()
    rerun = adf.pipelines.create_run(
        RG, FACTORY, "Late", reference_pipeline_run_id=failed.run_id, is_recovery=True, start_from_failure=True
    )
    run = wait_for(adf, rerun.run_id, DONE)
    check(run.status == "Succeeded", f"the recovery run succeeded ({run.status}: {run.message})")
    check(run.run_group_id == adf.pipeline_runs.get(RG, FACTORY, failed.run_id).run_group_id,
          "the recovery run shares the failed run's group")
    print("sdk_runs: all passed")


if __name__ == "__main__":
    main()
