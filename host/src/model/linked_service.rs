//! Linked services: where a store lives and how to log in.

mod encrypted;

use std::path::PathBuf;

use super::error::ModelError;
use super::load::Definition;
use super::props::Props;
use crate::model::pg_endpoint::PgEndpoint;
use crate::secrets::SecretBook;
use encrypted::EncryptedCredential;

/// The linked service types Sluice accepts for PostgreSQL.
pub const POSTGRES_TYPES: [&str; 3] = ["AzurePostgreSql", "PostgreSql", "PostgreSqlV2"];

/// A resolved linked service.
#[derive(Debug, Clone)]
pub enum LinkedService {
    Postgres(PgEndpoint),
    /// `FileServer` on a local path: `host` is the root folder (relative paths are taken from
    /// the current directory).
    Files {
        root: PathBuf,
    },
    /// `AzureKeyVault`: where `AzureKeyVaultSecret` references are read (see
    /// [`crate::secrets::book`]); `base_url` has no trailing `/`.
    KeyVault {
        base_url: String,
    },
    /// `AzureBlobStorage` (a connection string, a SAS URI or a service endpoint with Entra ID
    /// credentials) or `AzureBlobFS` (ADLS Gen2, through its Blob API).
    AzureBlob(crate::model::files::blob_account::BlobAccount),
}

/// Parses a linked service definition (after parameter substitution of `properties`).
pub fn parse(
    def: &Definition,
    properties: &serde_json::Value,
    book: &SecretBook,
    warnings: &mut Vec<String>,
) -> Result<LinkedService, ModelError> {
    let at = format!("linked service '{}' ({})", def.name, def.file.display());
    let props = Props::of(at.clone(), properties)?;
    let ty = props.req_str("type")?;
    let version = props.str("version")?;
    // `connectVia` names the integration runtime ADF would run on: Sluice runs where it runs.
    for k in ["description", "annotations", "parameters", "connectVia"] {
        props.accept(k);
    }
    let type_props = props
        .object("typeProperties")?
        .ok_or_else(|| props.err("typeProperties", "is required"))?;
    let encrypted = EncryptedCredential::of(&type_props, &def.name, ty);
    let ls = parse_type(def, ty, version, &type_props, book).map_err(|e| encrypted.explain(e))?;
    if let LinkedService::Postgres(endpoint) = &ls {
        encrypted.require_password(endpoint, &type_props)?;
    }
    warnings.extend(encrypted.notice(&at));
    warnings.extend(props.unused());
    warnings.extend(type_props.unused());
    Ok(ls)
}

/// The linked service of type `ty` from its `typeProperties`.
fn parse_type(
    def: &Definition,
    ty: &str,
    version: Option<&str>,
    type_props: &Props<'_>,
    book: &SecretBook,
) -> Result<LinkedService, ModelError> {
    let ls = if POSTGRES_TYPES.iter().any(|t| t.eq_ignore_ascii_case(ty)) {
        type_props.secret_properties(&["connectionString", "password"]);
        let mut endpoint = PgEndpoint::from_linked_service(type_props, ty, version, book)?;
        endpoint.linked_service = Some(def.name.clone());
        LinkedService::Postgres(endpoint)
    } else if ty == "FileServer" {
        type_props.secret_properties(&["password"]);
        let host = type_props.req_str("host")?;
        type_props.accept("userId");
        type_props.accept("password");
        let root = match &def.files_root {
            None => PathBuf::from(host),
            // The service: `C:\\data\\in` or `/data/in` is a folder under the tenant's root.
            Some(jail) => jail.join(
                super::files::confine::jailed_host(host)
                    .map_err(|why| type_props.err("host", format!("'{host}' {why}")))?,
            ),
        };
        LinkedService::Files { root }
    } else if ty == "AzureKeyVault" {
        LinkedService::KeyVault {
            base_url: super::key_vault::base_url_from(type_props)?,
        }
    } else if ty == "AzureBlobStorage" || ty == "AzureStorage" {
        type_props.secret_properties(&[
            "connectionString",
            "sasUri",
            "sasToken",
            "accountKey",
            "servicePrincipalKey",
            "servicePrincipalCredential",
        ]);
        LinkedService::AzureBlob(crate::model::files::blob_account::BlobAccount::from_props(
            type_props, &def.name, book,
        )?)
    } else if ty == crate::model::files::adls::ADLS_TYPE {
        type_props.secret_properties(&[
            "accountKey",
            "sasUri",
            "sasToken",
            "servicePrincipalKey",
            "servicePrincipalCredential",
        ]);
        LinkedService::AzureBlob(crate::model::files::adls::from_props(
            type_props, &def.name, book,
        )?)
    } else {
        return Err(ModelError::invalid(
            &format!("linked service '{}' ({})", def.name, def.file.display()),
            "type",
            format!(
                "linked service type {ty:?} is not supported (supported: {}, FileServer, AzureBlobStorage, AzureBlobFS, AzureKeyVault)",
                POSTGRES_TYPES.join(", ")
            ),
        ));
    };
    Ok(ls)
}
