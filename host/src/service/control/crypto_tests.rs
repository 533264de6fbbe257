//! Unit tests of [`super`]: sealing round trips, what refuses to open, masking, and that
//! neither the key nor a value leaks through `Debug` or errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

use super::*;

fn key() -> MasterKey {
    MasterKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap()
}

#[test]
fn seal_and_open_round_trip_with_fresh_nonces() {
    let k = key();
    let a = k.seal(b"p@ss word", b"t/f/linkedservices/ls").unwrap();
    let b = k.seal(b"p@ss word", b"t/f/linkedservices/ls").unwrap();
    assert!(a.starts_with(SEALED_PREFIX));
    assert_ne!(a, b, "each seal uses a new nonce");
    assert!(!a.contains("p@ss"));
    assert_eq!(k.open(&a, b"t/f/linkedservices/ls").unwrap(), b"p@ss word");
}

#[test]
fn another_aad_or_key_does_not_open() {
    let k = key();
    let sealed = k.seal(b"secret", b"tenant-a/f/linkedservices/ls").unwrap();
    assert!(k.open(&sealed, b"tenant-b/f/linkedservices/ls").is_err());
    let other = MasterKey::from_base64(&STANDARD.encode([8u8; 32])).unwrap();
    assert!(other
        .open(&sealed, b"tenant-a/f/linkedservices/ls")
        .is_err());
}

#[test]
fn tampered_ciphertext_does_not_open() {
    let k = key();
    let sealed = k.seal(b"secret", b"aad").unwrap();
    let mut bytes = STANDARD.decode(&sealed[SEALED_PREFIX.len()..]).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let tampered = format!("{SEALED_PREFIX}{}", STANDARD.encode(&bytes));
    let err = k.open(&tampered, b"aad").unwrap_err();
    assert!(matches!(err, ControlError::Crypto(_)));
    assert!(k.open("sluice:sealed:v1:AAAA", b"aad").is_err());
    assert!(k.open("not sealed", b"aad").is_err());
}

#[test]
fn secure_strings_seal_open_and_mask_anywhere() {
    let k = key();
    let original = json!({"properties": {"type": "PostgreSqlV2", "typeProperties": {
        "password": {"type": "SecureString", "value": "hunter2"},
        "nested": [{"deep": {"type": "SecureString", "value": "swordfish"}}],
        "user": "plain"
    }}});
    let mut doc = original.clone();
    k.seal_secure_strings(&mut doc, "aad").unwrap();
    let text = doc.to_string();
    assert!(!text.contains("hunter2") && !text.contains("swordfish"));
    assert_eq!(text.matches(SEALED_PREFIX).count(), 2);
    let mut masked = doc.clone();
    mask_secure_strings(&mut masked);
    let masked_text = masked.to_string();
    assert!(!masked_text.contains(SEALED_PREFIX) && !masked_text.contains("hunter2"));
    assert_eq!(masked_text.matches(MASK).count(), 2);
    assert!(masked_text.contains("plain"));
    assert!(k.open_secure_strings(&mut doc.clone(), "other").is_err());
    k.open_secure_strings(&mut doc, "aad").unwrap();
    assert_eq!(doc, original);
}

#[test]
fn debug_and_errors_show_no_key() {
    let text = STANDARD.encode([42u8; 32]);
    let k = MasterKey::from_base64(&text).unwrap();
    let debug = format!("{k:?}");
    assert_eq!(debug, "MasterKey(..)");
    let short = STANDARD.encode([42u8; 16]);
    let err = MasterKey::from_base64(&short).unwrap_err().to_string();
    assert!(!err.contains(&short));
    assert!(err.contains("SLUICE_MASTER_KEY") && err.contains("openssl rand -base64 32"));
    let err = MasterKey::from_base64("not base64!")
        .unwrap_err()
        .to_string();
    assert!(err.contains("openssl rand -base64 32") && !err.contains("not base64!"));
}

#[test]
fn masked_values_keep_the_stored_secret_on_put() {
    let k = key();
    let mut stored = json!({"properties": {"typeProperties": {
        "password": {"type": "SecureString", "value": "old-secret"},
        "a/b": [{"type": "SecureString", "value": "other"}]
    }}});
    k.seal_secure_strings(&mut stored, "aad").unwrap();
    let mut shown = stored.clone();
    mask_secure_strings(&mut shown);
    // The client changes one secret and sends the other back masked.
    shown["properties"]["typeProperties"]["a/b"][0]["value"] = json!("new-secret");
    let mut put = shown.clone();
    k.seal_secure_strings_keeping(&mut put, "aad", Some(&stored))
        .unwrap();
    assert_eq!(
        put["properties"]["typeProperties"]["password"],
        stored["properties"]["typeProperties"]["password"]
    );
    k.open_secure_strings(&mut put, "aad").unwrap();
    assert_eq!(
        put["properties"]["typeProperties"]["password"]["value"],
        "old-secret"
    );
    assert_eq!(
        put["properties"]["typeProperties"]["a/b"][0]["value"],
        "new-secret"
    );
    // Without a previous body the mask is just a value.
    let mut fresh = shown.clone();
    k.seal_secure_strings_keeping(&mut fresh, "aad", None)
        .unwrap();
    k.open_secure_strings(&mut fresh, "aad").unwrap();
    assert_eq!(
        fresh["properties"]["typeProperties"]["password"]["value"],
        MASK
    );
}
