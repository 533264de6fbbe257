"""Shared by the SDK tests: a client of Microsoft's azure-mgmt-datafactory pointed at a Sluice
server, and the definitions the tests upload. The server, token and CA come from the
environment the Rust test sets: SLUICE_API_URL (https://127.0.0.1:PORT), SLUICE_CA (PEM file
of the test CA), SLUICE_TOKEN, SLUICE_SUBSCRIPTION, SLUICE_PG_CONNECTION (an ADF-style
PostgreSQL connection string)."""

import os
import sys
import time

from azure.core.credentials import AccessToken
from azure.mgmt.datafactory import DataFactoryManagementClient
from azure.mgmt.datafactory import models as m


class StaticToken:
    """A TokenCredential that hands out the tenant's bearer token."""

    def __init__(self, token):
        self._token = token

    def get_token(self, *scopes, **kwargs):
        return AccessToken(self._token, int(time.time()) + 3600)


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set (the Rust test sets it)")
    return value


def client(token=None):
    return DataFactoryManagementClient(
        StaticToken(token or env("SLUICE_TOKEN")),
        env("SLUICE_SUBSCRIPTION"),
        base_url=env("SLUICE_API_URL"),
        connection_verify=env("SLUICE_CA"),
        retry_total=0,
    )


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok: {what}", flush=True)


# azure-mgmt-datafactory 10.0.0 leaves the discriminator `type` unset on classes with
# flattened typeProperties (AzurePostgreSqlLinkedService, AzurePostgreSqlTableDataset, ...),
# so the JSON it sends has no `type`; the tests pass it explicitly, as users of 10.0.0 must.


def postgres_linked_service(connection):
    return m.LinkedServiceResource(
        properties=m.AzurePostgreSqlLinkedService(
            type="AzurePostgreSql",
            type_properties=m.AzurePostgreSqlLinkedServiceTypeProperties(
                connection_string=m.SecureString(value=connection)
            ),
        )
    )


def table_dataset(linked_service, schema, table):
    return m.DatasetResource(
        properties=m.AzurePostgreSqlTableDataset(
            type="AzurePostgreSqlTable",
            linked_service_name=m.LinkedServiceReference(
                reference_name=linked_service, type="LinkedServiceReference"
            ),
            type_properties=m.AzurePostgreSqlTableDatasetTypeProperties(schema=schema, table=table),
        )
    )


def copy_pipeline(source, sink, parameters=None, pre_copy=None):
    sink_props = {"type": "AzurePostgreSqlSink"}
    if pre_copy:
        sink_props["preCopyScript"] = pre_copy
    return m.PipelineResource(
        properties=m.Pipeline(
            parameters=parameters or {},
            activities=[
                {
                    "name": "CopyRows",
                    "type": "Copy",
                    "inputs": [{"referenceName": source, "type": "DatasetReference"}],
                    "outputs": [{"referenceName": sink, "type": "DatasetReference"}],
                    "typeProperties": {
                        "source": {"type": "AzurePostgreSqlSource"},
                        "sink": sink_props,
                    },
                }
            ],
        )
    )
