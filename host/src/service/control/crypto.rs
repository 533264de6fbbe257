//! Secrets at rest: the master key (`SLUICE_MASTER_KEY`, 32 bytes in base64) and AES-256-GCM
//! sealing with associated data, so that a sealed value only opens in the place it was sealed
//! for (a tenant's factory's linked service). SecureString values of linked services are
//! sealed on PUT ([`MasterKey::seal_secure_strings`]), masked on GET
//! ([`mask_secure_strings`]) and opened by the worker before planning
//! ([`MasterKey::open_secure_strings`]). Neither the key nor a value ever appears in an error
//! or a `Debug`.

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;
use uuid::Uuid;

use super::ControlError;

/// The environment variable holding the master key.
pub const MASTER_KEY_ENV: &str = "SLUICE_MASTER_KEY";

/// What a sealed value starts with; the rest is base64(nonce (12 bytes) || ciphertext).
pub const SEALED_PREFIX: &str = "sluice:sealed:v1:";

/// What GET shows instead of a SecureString's value.
pub const MASK: &str = "**********";

const HOW_TO_MAKE_ONE: &str = "make one with `openssl rand -base64 32`, keep it secret, and \
give every server and worker of the service the same one";

/// The AES-256-GCM key that seals the service's secrets.
#[derive(Clone)]
pub struct MasterKey {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// The key in `SLUICE_MASTER_KEY`; a missing or malformed key is an error saying how to
    /// make one.
    pub fn from_env() -> Result<MasterKey, ControlError> {
        match std::env::var(MASTER_KEY_ENV) {
            Ok(text) if !text.trim().is_empty() => MasterKey::from_base64(&text),
            Ok(_) | Err(std::env::VarError::NotPresent) => Err(ControlError::Crypto(format!(
                "{MASTER_KEY_ENV} is not set: the service encrypts the secrets it stores with \
                 this key (32 bytes, base64); {HOW_TO_MAKE_ONE}"
            ))),
            Err(std::env::VarError::NotUnicode(_)) => Err(ControlError::Crypto(format!(
                "{MASTER_KEY_ENV} is not valid base64 text; {HOW_TO_MAKE_ONE}"
            ))),
        }
    }

    /// A key from its base64 text (32 bytes once decoded).
    pub fn from_base64(text: &str) -> Result<MasterKey, ControlError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| {
            ControlError::Crypto(format!(
                "{MASTER_KEY_ENV} is not valid base64; {HOW_TO_MAKE_ONE}"
            ))
        })?;
        if bytes.len() != 32 {
            return Err(ControlError::Crypto(format!(
                "{MASTER_KEY_ENV} must be 32 bytes once decoded from base64, not {}; \
                 {HOW_TO_MAKE_ONE}",
                bytes.len()
            )));
        }
        let key = Key::<Aes256Gcm>::from_slice(&bytes);
        Ok(MasterKey {
            cipher: Aes256Gcm::new(key),
        })
    }

    /// Seals `plaintext` for `aad`: [`SEALED_PREFIX`] + base64(nonce || ciphertext), with a
    /// fresh random 96-bit nonce.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<String, ControlError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| ControlError::Crypto("cannot seal a secret".into()))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", STANDARD.encode(bytes)))
    }

    /// Opens what [`MasterKey::seal`] made for the same `aad`. Fails on another key, another
    /// AAD, or any change to the text.
    pub fn open(&self, sealed: &str, aad: &[u8]) -> Result<Vec<u8>, ControlError> {
        let refused = || {
            ControlError::Crypto(
                "a stored secret does not open with this master key (was SLUICE_MASTER_KEY \
                 changed, or the stored value altered?)"
                    .into(),
            )
        };
        let body = sealed.strip_prefix(SEALED_PREFIX).ok_or_else(refused)?;
        let bytes = STANDARD.decode(body).map_err(|_| refused())?;
        if bytes.len() < 12 + 16 {
            return Err(refused());
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| refused())
    }

    /// Replaces the `value` of every `{"type": "SecureString", "value": V}` object anywhere
    /// in `json` by V sealed for `aad`.
    pub fn seal_secure_strings(&self, json: &mut Value, aad: &str) -> Result<(), ControlError> {
        self.seal_secure_strings_keeping(json, aad, None)
    }

    /// [`MasterKey::seal_secure_strings`] for a PUT that replaces `previous` (the stored,
    /// sealed body): a SecureString whose value is [`MASK`] (what GET showed) keeps the
    /// sealed value at the same place in `previous`, so a client may GET, change and PUT a
    /// linked service without sending its secrets again. Other values are sealed.
    pub fn seal_secure_strings_keeping(
        &self,
        json: &mut Value,
        aad: &str,
        previous: Option<&Value>,
    ) -> Result<(), ControlError> {
        let mut result = Ok(());
        walk(json, &mut String::new(), &mut |path, value| {
            if result.is_err() {
                return;
            }
            let Value::String(text) = value else {
                return;
            };
            let kept = previous
                .filter(|_| text == MASK)
                .and_then(|p| p.pointer(path))
                .filter(|o| o.get("type").and_then(Value::as_str) == Some("SecureString"))
                .and_then(|o| o.get("value"))
                .and_then(Value::as_str)
                .filter(|v| v.starts_with(SEALED_PREFIX));
            match kept {
                Some(sealed) => *text = sealed.to_string(),
                None => match self.seal(text.as_bytes(), aad.as_bytes()) {
                    Ok(sealed) => *text = sealed,
                    Err(e) => result = Err(e),
                },
            }
        });
        result
    }

    /// The reverse of [`MasterKey::seal_secure_strings`]; values that are not sealed stay.
    pub fn open_secure_strings(&self, json: &mut Value, aad: &str) -> Result<(), ControlError> {
        let mut result = Ok(());
        for_each_secure_string(json, &mut |value| {
            if result.is_err() {
                return;
            }
            if let Value::String(text) = value {
                if text.starts_with(SEALED_PREFIX) {
                    match self.open(text, aad.as_bytes()).and_then(|clear| {
                        String::from_utf8(clear).map_err(|_| {
                            ControlError::Crypto("a stored secret is not UTF-8 text".into())
                        })
                    }) {
                        Ok(clear) => *text = clear,
                        Err(e) => result = Err(e),
                    }
                }
            }
        });
        result
    }
}

/// Replaces the `value` of every SecureString in `json` by [`MASK`].
pub fn mask_secure_strings(json: &mut Value) {
    for_each_secure_string(json, &mut |value| *value = Value::String(MASK.into()));
}

/// The associated data of a linked service's secrets: where they belong.
pub fn linked_service_aad(tenant: Uuid, factory: &str, name: &str) -> String {
    format!(
        "{tenant}/{}/linkedservices/{}",
        factory.to_lowercase(),
        name.to_lowercase()
    )
}

/// Calls `f` on the `value` of every `{"type": "SecureString", "value": ...}` in `json`.
fn for_each_secure_string(json: &mut Value, f: &mut dyn FnMut(&mut Value)) {
    walk(json, &mut String::new(), &mut |_, value| f(value));
}

/// [`for_each_secure_string`] with the JSON pointer of each SecureString object.
fn walk(json: &mut Value, path: &mut String, f: &mut dyn FnMut(&str, &mut Value)) {
    let len = path.len();
    match json {
        Value::Object(map) => {
            let secure = map.get("type").and_then(Value::as_str) == Some("SecureString");
            if secure {
                if let Some(value) = map.get_mut("value") {
                    f(path, value);
                }
            }
            for (key, child) in map.iter_mut() {
                if !(secure && key == "value") {
                    path.push('/');
                    path.push_str(&key.replace('~', "~0").replace('/', "~1"));
                    walk(child, path, f);
                    path.truncate(len);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                path.push_str(&format!("/{i}"));
                walk(child, path, f);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[path = "crypto_tests.rs"]
mod tests;
