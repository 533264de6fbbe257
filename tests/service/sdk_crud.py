"""CRUD through Microsoft's own SDK: a factory, a linked service with a SecureString, datasets
(enough to page), a pipeline; GET shows the secret as **********; lists; an etag conflict; a
definition with a dangling reference refused; deletes. Run by tests/e2e/service_api.rs."""

import json

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.datafactory import models as m

from sdk_common import check, client, copy_pipeline, env, postgres_linked_service, table_dataset

RG = "rg-sdk"
FACTORY = "sdk-factory"
SECRET = env("SLUICE_PG_CONNECTION")


def main():
    adf = client()

    f = adf.factories.create_or_update(RG, FACTORY, m.Factory(location="local", tags={"team": "a"}))
    check(f.name == FACTORY and f.e_tag, "factory created with an eTag")
    got = adf.factories.get(RG, FACTORY)
    check(got.location == "local" and got.tags == {"team": "a"}, "factory read back")
    check(FACTORY in [x.name for x in adf.factories.list_by_resource_group(RG)], "listed by resource group")
    check(FACTORY in [x.name for x in adf.factories.list()], "listed by subscription")

    ls = adf.linked_services.create_or_update(RG, FACTORY, "Pg", postgres_linked_service(SECRET))
    check(ls.properties["typeProperties"]["connectionString"]["value"] == "**********", "PUT answers the SecureString masked")
    ls = adf.linked_services.get(RG, FACTORY, "pg")
    check(ls.name == "Pg", "names are case-insensitive")
    check(ls.properties["typeProperties"]["connectionString"]["value"] == "**********", "GET masks the SecureString")
    listed = list(adf.linked_services.list_by_factory(RG, FACTORY))
    check(SECRET not in json.dumps([x.as_dict() for x in listed]), "the secret is in no list")

    adf.datasets.create_or_update(RG, FACTORY, "Source", table_dataset("Pg", "sdk", "source"))
    adf.datasets.create_or_update(RG, FACTORY, "Sink", table_dataset("Pg", "sdk", "sink"))
    for i in range(53):
        adf.datasets.create_or_update(RG, FACTORY, f"Extra{i:02}", table_dataset("Pg", "sdk", f"t{i}"))
    names = [d.name for d in adf.datasets.list_by_factory(RG, FACTORY)]
    check(len(names) == 55 and len(set(names)) == 55, f"55 datasets listed across pages ({len(names)})")

    params = {"label": m.ParameterSpecification(type="String", default_value="x")}
    p = adf.pipelines.create_or_update(RG, FACTORY, "Copy", copy_pipeline("Source", "Sink", params))
    check(p.etag, "pipeline created with an etag")
    check([x.name for x in adf.pipelines.list_by_factory(RG, FACTORY)] == ["Copy"], "pipelines listed")

    try:
        adf.pipelines.create_or_update(
            RG, FACTORY, "Copy", copy_pipeline("Source", "Sink", params),
            etag="00000000-0000-0000-0000-000000000000", match_condition=MatchConditions.IfNotModified,
        )
        check(False, "a stale etag is refused")
    except ResourceExistsError as e:
        check(e.status_code == 409, "a stale etag is a 409")
    p2 = adf.pipelines.create_or_update(
        RG, FACTORY, "Copy", copy_pipeline("Source", "Sink", params),
        etag=p.etag, match_condition=MatchConditions.IfNotModified,
    )
    check(p2.etag != p.etag, "the current etag is accepted and changes")

    try:
        adf.pipelines.create_or_update(RG, FACTORY, "Broken", copy_pipeline("Source", "Nowhere"))
        check(False, "a dangling dataset reference is refused")
    except HttpResponseError as e:
        check(e.status_code == 400 and "Nowhere" in str(e.message), f"400 naming the dataset: {e.message}")

    adf.pipelines.delete(RG, FACTORY, "Copy")
    try:
        adf.pipelines.get(RG, FACTORY, "Copy")
        check(False, "a deleted pipeline is gone")
    except ResourceNotFoundError:
        check(True, "a deleted pipeline is a 404")
    adf.pipelines.delete(RG, FACTORY, "Copy")
    check(True, "deleting twice is fine")

    adf.factories.delete(RG, FACTORY)
    try:
        adf.factories.get(RG, FACTORY)
        check(False, "a deleted factory is gone")
    except ResourceNotFoundError:
        check(True, "a deleted factory is a 404")
    print("sdk_crud: all passed")


if __name__ == "__main__":
    main()
