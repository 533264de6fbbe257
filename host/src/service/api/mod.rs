//! The HTTP API: Azure Data Factory's management REST API (api-version 2018-06-01).
