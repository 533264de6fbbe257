//! `encryptedCredential`: linked services published by ADF carry their password or key
//! encrypted with a key only Azure holds, so Sluice cannot use it. This says so once per linked
//! service, naming the fix: an error when no other credential is given, a notice otherwise.

use super::{PgEndpoint, POSTGRES_TYPES};
use crate::model::error::ModelError;
use crate::model::props::Props;

/// What a linked service's `encryptedCredential` means for Sluice.
pub(super) struct EncryptedCredential {
    present: bool,
    /// How to give the credential instead, for this type of linked service.
    fix: String,
}

impl EncryptedCredential {
    /// Reads (and so accepts) `encryptedCredential` from the linked service's `typeProperties`.
    pub(super) fn of(type_props: &Props<'_>, name: &str, ty: &str) -> Self {
        let present = type_props.get("encryptedCredential").is_some();
        let fix = if POSTGRES_TYPES.iter().any(|t| t.eq_ignore_ascii_case(ty)) {
            format!(
                "run with --connection {name}=postgres://user:password@host:port/database, or give \
                 `password` as a SecureString or an Azure Key Vault reference"
            )
        } else if ty == "AzureBlobStorage" || ty == "AzureStorage" {
            "give `connectionString` (with its AccountKey) or `sasUri` as a SecureString or an \
             Azure Key Vault reference"
                .to_string()
        } else {
            "give the credential as a SecureString or an Azure Key Vault reference".to_string()
        };
        EncryptedCredential { present, fix }
    }

    fn why(&self) -> String {
        format!(
            "encryptedCredential was encrypted by ADF with a key only Azure holds and cannot be \
             decrypted outside Azure; {}",
            self.fix
        )
    }

    /// A parse error of a linked service that has an `encryptedCredential`: the missing
    /// credential is most likely in it, so the error says so and names the fix.
    pub(super) fn explain(&self, e: ModelError) -> ModelError {
        match e {
            ModelError::Invalid {
                object,
                property,
                reason,
            } if self.present => ModelError::Invalid {
                object,
                property,
                reason: format!("{reason} ({})", self.why()),
            },
            other => other,
        }
    }

    /// A PostgreSQL linked service whose password is only in `encryptedCredential` cannot log
    /// in: an error (a connection string from Key Vault carries its own password).
    pub(super) fn require_password(
        &self,
        endpoint: &PgEndpoint,
        type_props: &Props<'_>,
    ) -> Result<(), ModelError> {
        let from_vault = type_props
            .get("connectionString")
            .is_some_and(serde_json::Value::is_object);
        if self.present && endpoint.password.is_none() && !from_vault {
            return Err(type_props.err(
                "encryptedCredential",
                format!("no password is given besides it: {}", self.why()),
            ));
        }
        Ok(())
    }

    /// The one notice for a linked service that has another credential.
    pub(super) fn notice(&self, at: &str) -> Option<String> {
        self.present.then(|| {
            format!(
                "{at}: encryptedCredential cannot be decrypted outside Azure and is not used; \
                 Sluice uses the credentials written in the definition"
            )
        })
    }
}
