//! Reading and writing variable-length columns in [`process_batch`](crate::RowPlugin::process_batch).
//!
//! The WIT carries each `numeric`, `text`, `json` and `bytes` column as one
//! [`wit::VarColumn`]: every row's bytes back to back in `data`, and `offsets` with one entry
//! more than there are rows, so row `i` is `data[offsets[i]..offsets[i + 1]]` (a NULL row is an
//! empty range). That crosses the boundary with one copy per column instead of one allocation
//! per value, but it is easy to get wrong by hand, so use these instead of the raw fields:
//!
//! - reading: [`wit::ColumnData::str`] / [`wit::ColumnData::bytes`] (`None` for NULL), or
//!   [`wit::VarColumn::get`] / [`wit::VarColumn::str`] / [`wit::VarColumn::iter`];
//! - writing: [`VarColumnBuilder`], then [`VarColumnBuilder::into_column`].
//!
//! Plugins that implement [`RowPlugin::process`](crate::RowPlugin::process) never see any of
//! this: the SDK converts columns to rows of [`Value`](crate::Value)s and back.
//!
//! ```
//! use sluice_plugin_sdk::wit::{Batch, ColumnValues};
//! use sluice_plugin_sdk::VarColumnBuilder;
//!
//! /// Upper-cases text column `c` of a batch, keeping NULLs.
//! fn upper(batch: &mut Batch, c: usize) -> Result<(), String> {
//!     let col = batch.columns.get(c).ok_or("no such column")?;
//!     let rows = batch.num_rows as usize;
//!     let mut out = VarColumnBuilder::with_capacity(rows, col.var().map_or(0, |v| v.data.len()));
//!     for row in 0..rows {
//!         match col.str(row) {
//!             Some(s) => out.push_str(&s.to_uppercase()),
//!             None => out.push_null(),
//!         }
//!     }
//!     batch.columns[c] = out.into_column(ColumnValues::Text)?;
//!     Ok(())
//! }
//!
//! let mut b = VarColumnBuilder::new();
//! b.push_str("héllo");
//! b.push_null();
//! let mut batch = Batch { num_rows: 2, columns: vec![b.into_column(ColumnValues::Text)?] };
//! upper(&mut batch, 0)?;
//! assert_eq!(batch.columns[0].str(0), Some("HÉLLO"));
//! assert_eq!(batch.columns[0].str(1), None);
//! assert!(batch.columns[0].is_null(1));
//! # Ok::<(), String>(())
//! ```

use crate::bindings::sluice::plugin::types as wit;

impl wit::VarColumn {
    /// A column of no rows: no data and the single offset 0.
    pub fn new() -> wit::VarColumn {
        wit::VarColumn {
            data: Vec::new(),
            offsets: vec![0],
        }
    }

    /// Number of rows (one less than the number of offsets).
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes of row `row`: `data[offsets[row]..offsets[row + 1]]`. `None` when the row does
    /// not exist or its offsets do not describe a range of `data`. A NULL row (see
    /// [`wit::ColumnData::nulls`]) gives an empty slice here; [`wit::ColumnData::bytes`] checks
    /// the flag for you.
    pub fn get(&self, row: usize) -> Option<&[u8]> {
        let start = *self.offsets.get(row)? as usize;
        let end = *self.offsets.get(row.checked_add(1)?)? as usize;
        self.data.get(start..end)
    }

    /// Row `row` as text (`numeric`, `text` and `json` columns); `None` as for
    /// [`get`](Self::get), or when the bytes are not UTF-8 (never for a column the host sent).
    pub fn str(&self, row: usize) -> Option<&str> {
        std::str::from_utf8(self.get(row)?).ok()
    }

    /// Every row's bytes, in order (an empty slice for a NULL row, and for a row whose offsets
    /// are out of order or out of range; [`check`](Self::check) finds those).
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.offsets.windows(2).map(|w| match *w {
            [start, end] => self.data.get(start as usize..end as usize).unwrap_or(&[]),
            _ => &[],
        })
    }

    /// Checks the layout the WIT promises for a column of `rows` rows: `rows + 1` offsets,
    /// starting at 0, never decreasing and ending at the length of `data`. (The host checks the
    /// same, and UTF-8, on everything a plugin returns.)
    pub fn check(&self, rows: usize) -> Result<(), String> {
        let n = self.offsets.len();
        if n.checked_sub(1) != Some(rows) {
            return Err(format!(
                "var-column has {n} offsets for {rows} rows (it needs one more than rows)"
            ));
        }
        if let Some(&first) = self.offsets.first() {
            if first != 0 {
                return Err(format!("var-column offsets start at {first}, not 0"));
            }
        }
        let len = self.data.len();
        for (row, w) in self.offsets.windows(2).enumerate() {
            let &[start, end] = w else { continue };
            if end < start || end as usize > len {
                return Err(format!(
                    "var-column row {row} runs from byte {start} to {end} of {len}"
                ));
            }
        }
        let last = self.offsets.last().copied().unwrap_or(0);
        if last as usize != len {
            return Err(format!(
                "var-column offsets end at byte {last}, but its data has {len} bytes"
            ));
        }
        Ok(())
    }
}

impl Default for wit::VarColumn {
    fn default() -> Self {
        wit::VarColumn::new()
    }
}

impl wit::ColumnData {
    /// Whether row `row` is NULL.
    pub fn is_null(&self, row: usize) -> bool {
        self.nulls.get(row).copied().unwrap_or(false)
    }

    /// The `var-column` of a `numeric`, `text`, `json` or `bytes` column; `None` for the others.
    pub fn var(&self) -> Option<&wit::VarColumn> {
        use wit::ColumnValues as C;
        match &self.values {
            C::Numeric(v) | C::Text(v) | C::Json(v) | C::Bytes(v) => Some(v),
            _ => None,
        }
    }

    /// Row `row` of a `numeric`, `text` or `json` column; `None` when the row is NULL (or does
    /// not exist, or the column is of another type).
    pub fn str(&self, row: usize) -> Option<&str> {
        use wit::ColumnValues as C;
        match &self.values {
            C::Numeric(v) | C::Text(v) | C::Json(v) if !self.is_null(row) => v.str(row),
            _ => None,
        }
    }

    /// Row `row` of a `bytes` column; `None` when the row is NULL (or does not exist, or the
    /// column is of another type).
    pub fn bytes(&self, row: usize) -> Option<&[u8]> {
        match &self.values {
            wit::ColumnValues::Bytes(v) if !self.is_null(row) => v.get(row),
            _ => None,
        }
    }
}

/// Builds a [`wit::VarColumn`] (and its NULL flags) one row at a time, keeping the offsets
/// right: [`push`](Self::push) or [`push_str`](Self::push_str) a value, or
/// [`push_null`](Self::push_null), once per row in order; then
/// [`into_column`](Self::into_column).
///
/// For `numeric`, `text` and `json` columns push text only: the host refuses bytes that are not
/// UTF-8.
#[derive(Debug, Clone)]
pub struct VarColumnBuilder {
    data: Vec<u8>,
    offsets: Vec<u32>,
    /// Empty until the first NULL, as the WIT asks.
    nulls: Vec<bool>,
    /// Set when `data` outgrew what `u32` offsets can address (4 GiB; not reachable on wasm32).
    too_large: bool,
}

impl Default for VarColumnBuilder {
    fn default() -> Self {
        VarColumnBuilder::new()
    }
}

impl VarColumnBuilder {
    pub fn new() -> VarColumnBuilder {
        VarColumnBuilder::with_capacity(0, 0)
    }

    /// A builder with room for `rows` rows and `bytes` bytes of values.
    pub fn with_capacity(rows: usize, bytes: usize) -> VarColumnBuilder {
        let mut offsets = Vec::with_capacity(rows.saturating_add(1));
        offsets.push(0);
        VarColumnBuilder {
            data: Vec::with_capacity(bytes),
            offsets,
            nulls: Vec::new(),
            too_large: false,
        }
    }

    /// Rows pushed so far.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a row holding `value`.
    pub fn push(&mut self, value: &[u8]) {
        self.data.extend_from_slice(value);
        self.end_row(false);
    }

    /// Appends a row holding `value`.
    pub fn push_str(&mut self, value: &str) {
        self.push(value.as_bytes());
    }

    /// Appends a NULL row (an empty range, flagged NULL).
    pub fn push_null(&mut self) {
        self.end_row(true);
    }

    fn end_row(&mut self, null: bool) {
        if null {
            if self.nulls.is_empty() {
                // The first NULL: flag every row before it as not NULL.
                let rows = self.len();
                self.nulls
                    .reserve(self.offsets.capacity().saturating_sub(1));
                self.nulls.resize(rows, false);
            }
            self.nulls.push(true);
        } else if !self.nulls.is_empty() {
            self.nulls.push(false);
        }
        let end = u32::try_from(self.data.len()).unwrap_or_else(|_| {
            self.too_large = true;
            u32::MAX
        });
        self.offsets.push(end);
    }

    /// The column and its NULL flags (empty when no row is NULL).
    pub fn finish(self) -> Result<(wit::VarColumn, Vec<bool>), String> {
        if self.too_large {
            return Err(format!(
                "a var-column holds at most 4 GiB; these {} rows have {} bytes",
                self.len(),
                self.data.len()
            ));
        }
        let column = wit::VarColumn {
            data: self.data,
            offsets: self.offsets,
        };
        Ok((column, self.nulls))
    }

    /// The finished column as a batch column of the case `values` (`ColumnValues::Text`,
    /// `ColumnValues::Bytes`, `ColumnValues::Json` or `ColumnValues::Numeric`).
    pub fn into_column(
        self,
        values: fn(wit::VarColumn) -> wit::ColumnValues,
    ) -> Result<wit::ColumnData, String> {
        let (column, nulls) = self.finish()?;
        Ok(wit::ColumnData {
            nulls,
            values: values(column),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(data: &[u8], offsets: &[u32]) -> wit::VarColumn {
        wit::VarColumn {
            data: data.to_vec(),
            offsets: offsets.to_vec(),
        }
    }

    #[test]
    fn builder_keeps_offsets_and_nulls() {
        let mut b = VarColumnBuilder::new();
        assert!(b.is_empty());
        b.push_str("ab");
        b.push(b"");
        b.push_null();
        b.push_str("é");
        assert_eq!(b.len(), 4);
        let (col, nulls) = b.finish().unwrap();
        assert_eq!(col.data, "abé".as_bytes());
        assert_eq!(col.offsets, vec![0, 2, 2, 2, 4]);
        assert_eq!(nulls, vec![false, false, true, false]);
        assert_eq!(col.check(4), Ok(()));
        assert_eq!(col.len(), 4);
        let got: Vec<&[u8]> = col.iter().collect();
        assert_eq!(got, vec![&b"ab"[..], b"", b"", "é".as_bytes()]);
    }

    #[test]
    fn a_null_first_row_is_flagged() {
        let mut b = VarColumnBuilder::new();
        b.push_null();
        b.push_str("a");
        b.push_null();
        let c = b.into_column(wit::ColumnValues::Text).unwrap();
        assert_eq!(c.nulls, vec![true, false, true]);
        assert_eq!(c.var().unwrap().offsets, vec![0, 0, 1, 1]);
        assert_eq!((c.str(0), c.str(1), c.str(2)), (None, Some("a"), None));
    }

    #[test]
    fn no_nulls_means_no_flags() {
        let mut b = VarColumnBuilder::with_capacity(2, 4);
        b.push(b"x");
        b.push(b"yz");
        let c = b.into_column(wit::ColumnValues::Bytes).unwrap();
        assert!(c.nulls.is_empty());
        assert_eq!(c.bytes(1), Some(&b"yz"[..]));
        assert_eq!(c.bytes(2), None);
        assert_eq!(c.str(0), None, "str() is for text-like columns");
    }

    #[test]
    fn empty_builder_is_one_offset() {
        let (col, nulls) = VarColumnBuilder::default().finish().unwrap();
        assert_eq!(col.offsets, vec![0]);
        assert!(col.data.is_empty() && nulls.is_empty());
        assert_eq!(col.check(0), Ok(()));
        assert_eq!(wit::VarColumn::default().offsets, vec![0]);
    }

    #[test]
    fn accessors_respect_nulls_and_bounds() {
        let c = wit::ColumnData {
            nulls: vec![false, true, false],
            values: wit::ColumnValues::Json(var(b"{}[]1", &[0, 2, 4, 5])),
        };
        assert_eq!(c.str(0), Some("{}"));
        assert_eq!(c.str(1), None);
        assert_eq!(c.var().and_then(|v| v.str(1)), Some("[]"));
        assert_eq!(c.str(2), Some("1"));
        assert_eq!(c.str(3), None);
        assert_eq!(c.str(usize::MAX), None);
        assert!(c.is_null(1) && !c.is_null(0) && !c.is_null(99));
    }

    #[test]
    fn malformed_columns_give_none_and_check_errors() {
        // Backwards, past the end, splitting a character, not starting at 0, trailing bytes.
        let back = var(b"abc", &[0, 2, 1, 3]);
        assert_eq!(back.get(1), None);
        assert!(back.check(3).unwrap_err().contains("row 1"));
        let past = var(b"abc", &[0, u32::MAX]);
        assert_eq!(past.get(0), None);
        assert!(past.check(1).is_err());
        let split = var("é".as_bytes(), &[0, 1, 2]);
        assert_eq!(split.get(0), Some(&[0xc3][..]));
        assert_eq!(split.str(0), None);
        assert!(var(b"ab", &[1, 2])
            .check(1)
            .unwrap_err()
            .contains("start at 1"));
        assert!(var(b"ab", &[0, 1])
            .check(1)
            .unwrap_err()
            .contains("2 bytes"));
        assert!(var(b"ab", &[0, 2])
            .check(2)
            .unwrap_err()
            .contains("2 offsets"));
        assert!(var(b"", &[]).check(0).is_err());
        assert_eq!(var(b"", &[]).len(), 0);
    }
}
