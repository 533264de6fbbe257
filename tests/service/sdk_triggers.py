"""Triggers through Microsoft's own SDK: create (a schedule and a tumbling window trigger),
get, list, begin_start(...).result(), begin_stop(...).result(), query trigger runs, rerun a
failed window, delete. The factory `sdk-triggers` (resource group rg) with pipeline Work, and
one Failed window of trigger Windows, are made by the Rust test before this runs
(tests/e2e/service_triggers_api.rs)."""

import datetime

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.datafactory import models as m

from sdk_common import check, client

RG = "rg"
FACTORY = "sdk-triggers"
UTC = datetime.timezone.utc


def work():
    return m.TriggerPipelineReference(
        pipeline_reference=m.PipelineReference(reference_name="Work", type="PipelineReference"),
        parameters={},
    )


# azure-mgmt-datafactory 10.0.0 sets no `type` on TumblingWindowTrigger and the parent's
# ("MultiplePipelineTrigger") on ScheduleTrigger: the tests set it, as users of 10.0.0 must.


def schedule_trigger():
    t = m.ScheduleTrigger(
        type_properties=m.ScheduleTriggerTypeProperties(
            recurrence=m.ScheduleTriggerRecurrence(
                frequency="Hour",
                interval=1,
                start_time=datetime.datetime(2027, 1, 1, tzinfo=UTC),
                time_zone="UTC",
            )
        ),
        pipelines=[work()],
    )
    t.type = "ScheduleTrigger"
    return m.TriggerResource(properties=t)


def tumbling_trigger(fix_type=True):
    t = m.TumblingWindowTrigger(
        pipeline=work(),
        type_properties=m.TumblingWindowTriggerTypeProperties(
            frequency="Hour",
            interval=1,
            start_time=datetime.datetime(2027, 1, 1, tzinfo=UTC),
            max_concurrency=2,
        ),
    )
    if fix_type:
        t.type = "TumblingWindowTrigger"
    return m.TriggerResource(properties=t)


def window(**extra):
    return m.RunFilterParameters(
        last_updated_after=datetime.datetime(2000, 1, 1, tzinfo=UTC),
        last_updated_before=datetime.datetime(2100, 1, 1, tzinfo=UTC),
        **extra,
    )


def main():
    adf = client()

    try:
        adf.triggers.create_or_update(RG, FACTORY, "Untyped", tumbling_trigger(fix_type=False))
        check(False, "a trigger without a type is refused")
    except HttpResponseError as e:
        check(e.status_code == 400 and "properties.type" in str(e), "a trigger without a type is a 400 naming properties.type")

    created = adf.triggers.create_or_update(RG, FACTORY, "Hourly", schedule_trigger())
    check(created.name == "Hourly" and created.etag, "schedule trigger created with an etag")
    check(created.properties.runtime_state == "Stopped", "a new trigger is Stopped")
    check(created.properties.type == "ScheduleTrigger", "its type reads back")
    adf.triggers.create_or_update(RG, FACTORY, "Windows", tumbling_trigger())
    got = adf.triggers.get(RG, FACTORY, "windows")
    check(got.name == "Windows" and got.properties.type == "TumblingWindowTrigger", "tumbling window trigger read back")
    check(got.properties.type_properties.max_concurrency == 2, "its typeProperties read back")
    names = sorted(t.name for t in adf.triggers.list_by_factory(RG, FACTORY))
    check(names == ["Hourly", "Windows"], f"triggers listed ({names})")

    adf.triggers.begin_start(RG, FACTORY, "Hourly").result()
    check(adf.triggers.get(RG, FACTORY, "Hourly").properties.runtime_state == "Started", "begin_start(...).result() starts it")
    try:
        adf.triggers.delete(RG, FACTORY, "Hourly")
        check(False, "a started trigger cannot be deleted")
    except HttpResponseError as e:
        check(e.status_code == 400 and "TriggerEnabledCannotUpdate" in str(e), "deleting a started trigger is TriggerEnabledCannotUpdate")
    adf.triggers.begin_stop(RG, FACTORY, "Hourly").result()
    check(adf.triggers.get(RG, FACTORY, "Hourly").properties.runtime_state == "Stopped", "begin_stop(...).result() stops it")

    runs = adf.trigger_runs.query_by_factory(
        RG, FACTORY, window(filters=[m.RunQueryFilter(operand="TriggerName", operator="Equals", values_property=["Windows"])])
    )
    check(len(runs.value) == 1, f"one trigger run of Windows ({len(runs.value)})")
    run = runs.value[0]
    check(run.status == "Failed" and run.trigger_type == "TumblingWindowTrigger", "the failed window as a TriggerRun")
    check(run.triggered_pipelines == {"Work": "00000000-0000-0000-0000-000000000001"}, "its triggeredPipelines")
    check(run.trigger_run_timestamp is not None and run.trigger_name == "Windows", "its timestamp and trigger name")
    none = adf.trigger_runs.query_by_factory(
        RG, FACTORY, window(filters=[m.RunQueryFilter(operand="TriggerName", operator="Equals", values_property=["Hourly"])])
    )
    check(none.value == [], "no runs of Hourly")

    adf.trigger_runs.rerun(RG, FACTORY, "Windows", run.trigger_run_id)
    again = adf.trigger_runs.query_by_factory(
        RG, FACTORY, window(filters=[m.RunQueryFilter(operand="Status", operator="Equals", values_property=["Waiting"])])
    )
    check([r.trigger_run_id for r in again.value] == [run.trigger_run_id], "the rerun window is Waiting")
    try:
        adf.trigger_runs.rerun(RG, FACTORY, "Windows", run.trigger_run_id)
        check(False, "a waiting window cannot be rerun")
    except HttpResponseError as e:
        check(e.status_code == 400, "rerunning a waiting window is a 400")

    adf.triggers.delete(RG, FACTORY, "Hourly")
    adf.triggers.delete(RG, FACTORY, "Windows")
    try:
        adf.triggers.get(RG, FACTORY, "Hourly")
        check(False, "a deleted trigger is gone")
    except ResourceNotFoundError:
        check(True, "a deleted trigger is gone (404)")
    check(list(adf.triggers.list_by_factory(RG, FACTORY)) == [], "no triggers left")
    print("sdk_triggers: all passed")


if __name__ == "__main__":
    main()
