//! Keyset paging of the list operations: a [`Page`] of rows and an opaque cursor for the
//! next one (the API puts it in `nextLink`). The cursor is base64url of the JSON array of the
//! last row's sort keys; the next page starts strictly after them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::ControlError;

/// Rows of one page and the cursor of the next, if there are more.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `after` for the next page; `None` on the last.
    pub next: Option<String>,
}

/// The most rows a page may ask for.
pub const MAX_PAGE: usize = 1000;

/// `limit` clamped to 1..=[`MAX_PAGE`], as the row count to fetch (one more than the page,
/// to know whether there is a next).
pub(crate) fn fetch_limit(limit: usize) -> i64 {
    i64::try_from(limit.clamp(1, MAX_PAGE) + 1).unwrap_or(1001)
}

/// The cursor of sort keys `keys`.
pub(crate) fn cursor(keys: &[&str]) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::Value::from(keys.to_vec()).to_string())
}

/// The `n` sort keys in `after` (`None`: from the start).
pub(crate) fn parse_cursor(
    after: Option<&str>,
    n: usize,
) -> Result<Option<Vec<String>>, ControlError> {
    let Some(after) = after else {
        return Ok(None);
    };
    let invalid = || ControlError::Invalid("the continuation token is not valid".into());
    let bytes = URL_SAFE_NO_PAD.decode(after).map_err(|_| invalid())?;
    let keys: Vec<String> = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if keys.len() != n {
        return Err(invalid());
    }
    Ok(Some(keys))
}

/// Cuts `rows` (fetched with [`fetch_limit`]) to the page and makes the next cursor from the
/// last row kept.
pub(crate) fn page<T>(mut rows: Vec<T>, limit: usize, keys: impl Fn(&T) -> Vec<String>) -> Page<T> {
    let limit = limit.clamp(1, MAX_PAGE);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more {
        rows.last().map(|last| {
            let k = keys(last);
            cursor(&k.iter().map(String::as_str).collect::<Vec<_>>())
        })
    } else {
        None
    };
    Page { items: rows, next }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let c = cursor(&["rg", "Name/1"]);
        assert_eq!(
            parse_cursor(Some(&c), 2).unwrap().unwrap(),
            vec!["rg", "Name/1"]
        );
        assert!(parse_cursor(Some(&c), 1).is_err());
        assert!(parse_cursor(Some("!!"), 1).is_err());
        assert!(parse_cursor(None, 1).unwrap().is_none());
        let p = page(vec![1, 2, 3], 2, |n| vec![n.to_string()]);
        assert_eq!(p.items, vec![1, 2]);
        assert_eq!(
            parse_cursor(p.next.as_deref(), 1).unwrap().unwrap(),
            vec!["2"]
        );
        assert!(page(vec![1, 2], 2, |n| vec![n.to_string()]).next.is_none());
    }
}
