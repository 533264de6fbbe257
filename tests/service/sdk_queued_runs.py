"""The run operations through Microsoft's own SDK, without workers (runs stay Queued): the SDK
must parse every answer (createRun, a Queued run with no start or end, queryPipelineRuns with
filters and order, queryActivityruns, cancel) and see the cancel take effect. Run by
tests/e2e/service_api.rs."""

from datetime import datetime, timedelta, timezone

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.datafactory import models as m

from sdk_common import check, client, copy_pipeline, env, postgres_linked_service, table_dataset

RG = "rg-queued"
FACTORY = "sdk-queued"


def main():
    adf = client()
    adf.factories.create_or_update(RG, FACTORY, m.Factory(location="local"))
    adf.linked_services.create_or_update(RG, FACTORY, "Pg", postgres_linked_service(env("SLUICE_PG_CONNECTION")))
    adf.datasets.create_or_update(RG, FACTORY, "Source", table_dataset("Pg", "sdk", "source"))
    adf.datasets.create_or_update(RG, FACTORY, "Sink", table_dataset("Pg", "sdk", "sink"))
    params = {"note": m.ParameterSpecification(type="String"), "n": m.ParameterSpecification(type="Int", default_value=1)}
    adf.pipelines.create_or_update(RG, FACTORY, "Copy", copy_pipeline("Source", "Sink", params))

    created = adf.pipelines.create_run(RG, FACTORY, "Copy", parameters={"note": "hi", "n": 5})
    check(len(created.run_id) == 36, "createRun answers a runId")
    run = adf.pipeline_runs.get(RG, FACTORY, created.run_id)
    check(run.status == "Queued" and run.run_start is None, "a new run is Queued, not started")
    check(run.parameters == {"note": "hi", "n": "5"}, f"parameters as strings: {run.parameters}")
    check(run.invoked_by.invoked_by_type == "Manual", "invoked manually")
    check(isinstance(run.last_updated, datetime), "lastUpdated parses as a time")

    try:
        adf.pipelines.create_run(RG, FACTORY, "Copy", parameters={"nope": 1})
        check(False, "an undeclared parameter is refused")
    except HttpResponseError as e:
        check(e.status_code == 400 and "nope" in str(e.message), f"400 naming the parameter: {e.message}")
    try:
        adf.pipelines.create_run(RG, FACTORY, "Copy")
        check(False, "a required parameter without a value is refused")
    except HttpResponseError as e:
        check(e.status_code == 400 and "note" in str(e.message), f"400 naming the parameter: {e.message}")
    try:
        adf.pipelines.create_run(RG, FACTORY, "Missing")
        check(False, "an unknown pipeline is refused")
    except ResourceNotFoundError:
        check(True, "an unknown pipeline is a 404")

    second = adf.pipelines.create_run(RG, FACTORY, "Copy", parameters={"note": "again"})
    now = datetime.now(timezone.utc)
    window = dict(last_updated_after=now - timedelta(hours=1), last_updated_before=now + timedelta(hours=1))
    found = adf.pipeline_runs.query_by_factory(
        RG, FACTORY,
        m.RunFilterParameters(
            **window,
            filters=[m.RunQueryFilter(operand="PipelineName", operator="Equals", values_property=["Copy"])],
            order_by=[m.RunQueryOrderBy(order_by="RunStart", order="DESC")],
        ),
    )
    ids = {r.run_id for r in found.value}
    check(ids == {created.run_id, second.run_id}, "queryPipelineRuns finds both runs")
    acts = adf.activity_runs.query_by_pipeline_run(RG, FACTORY, created.run_id, m.RunFilterParameters(**window))
    check(acts.value == [], "a queued run has no activity runs")

    adf.pipeline_runs.cancel(RG, FACTORY, created.run_id, is_recursive=True)
    run = adf.pipeline_runs.get(RG, FACTORY, created.run_id)
    check(run.status == "Cancelled", f"a queued run is cancelled at once ({run.status})")
    found = adf.pipeline_runs.query_by_factory(
        RG, FACTORY,
        m.RunFilterParameters(
            **window, filters=[m.RunQueryFilter(operand="Status", operator="Equals", values_property=["Queued"])]
        ),
    )
    check([r.run_id for r in found.value] == [second.run_id], "filtering by status")
    print("sdk_queued_runs: all passed")


if __name__ == "__main__":
    main()
