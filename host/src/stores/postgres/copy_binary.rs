//! The binary COPY stream: `PGCOPY\n\xff\r\n\0`, flags (i32), header extension length (i32)
//! and extension; then tuples of an i16 field count followed by each field as an i32 length
//! (-1 for NULL) and that many bytes; then the trailer, a field count of -1.
//!
//! Decoding is the source's hot path. tokio-postgres hands over `CopyData` payloads whose
//! boundaries need not match rows, so [`CopyOutDecoder`] decodes whole rows straight from each
//! chunk and copies only a row split across chunks into a small carry-over buffer.

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::Type;

use super::binary::{
    decode_resolved, encode_resolved_with_len, resolve, type_name, CodecError, Resolved, Scalar,
};
use crate::types::batch::Batch;
use crate::types::schema::SchemaRef;
use crate::types::value::Value;

/// The 11-byte signature that opens every binary COPY stream.
pub const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// Signature, flags and extension length.
const HEADER_LEN: usize = 19;
/// Header flag bit 16: each tuple carries an OID (pre-PostgreSQL-12 `WITH OIDS`), unsupported.
const FLAG_OIDS: u32 = 1 << 16;
/// Bits 17-31 are critical: a reader that does not know them must stop.
const CRITICAL_FLAGS: u32 = 0xFFFE_0000;

pub(super) fn stream_err(msg: impl Into<String>) -> CodecError {
    CodecError::Stream(msg.into())
}

/// Where the decoder is in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Tuples,
    Done,
}

/// Outcome of examining the start of a buffer.
pub(super) enum Step {
    /// One item (header, row, trailer) of this many bytes was consumed.
    Consumed(usize),
    /// The buffer ends inside the next item, which needs at least this many bytes in total.
    NeedAtLeast(usize),
}

/// Decodes a binary `COPY ... TO STDOUT (FORMAT binary)` stream into batches.
///
/// Feed it every chunk in order, then call [`finish`](Self::finish) to check the stream ended
/// properly. Decoded rows are appended to the batch passed to [`feed`](Self::feed); `Batch::bytes`
/// is left to the caller (use [`bytes`](Self::bytes)).
#[derive(Debug)]
pub struct CopyOutDecoder {
    types: Vec<Type>,
    /// Each column's codec when it is a scalar, classified once: classifying a type walks a
    /// long chain of comparisons, too slow to repeat for every value.
    scalars: Vec<Option<Scalar>>,
    schema: SchemaRef,
    state: State,
    /// Bytes of an item split across chunks (usually empty).
    pending: Vec<u8>,
    /// One row's values, moved into the batch only once the whole row decoded, so a row split
    /// across chunks or a decoding error never leaves a partial row in the batch.
    row: Vec<Value>,
    bytes: u64,
    rows: u64,
}

impl CopyOutDecoder {
    /// A decoder for rows of these column types (one per column, in order); `schema` names the
    /// columns in error messages and must have the same width as the batches fed.
    pub fn new(types: Vec<Type>, schema: SchemaRef) -> Self {
        let width = types.len();
        let scalars = types
            .iter()
            .map(|t| match resolve(t) {
                Resolved::Scalar(s) => Some(s),
                _ => None,
            })
            .collect();
        CopyOutDecoder {
            scalars,
            types,
            schema,
            state: State::Header,
            pending: Vec::new(),
            row: Vec::with_capacity(width),
            bytes: 0,
            rows: 0,
        }
    }

    /// Total bytes fed so far (the COPY payload size, for `dataRead`).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Rows decoded so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Decodes the complete rows in `chunk` (plus any row carried over from the previous chunk)
    /// into `out` and returns how many rows it appended. A row cut off at the end of the chunk
    /// is kept until the next call.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Batch) -> Result<usize, CodecError> {
        if out.width() != self.types.len() {
            return Err(stream_err(format!(
                "the batch has {} columns but the decoder has {} column types",
                out.width(),
                self.types.len()
            )));
        }
        self.bytes += chunk.len() as u64;
        let mut input = chunk;
        let mut rows = 0;
        if !self.pending.is_empty() {
            input = self.complete_pending(input, out, &mut rows)?;
            if !self.pending.is_empty() {
                return Ok(rows);
            }
        }
        while !input.is_empty() {
            match self.step(input, out)? {
                (Step::Consumed(n), is_row) => {
                    rows += usize::from(is_row);
                    input = input.get(n..).unwrap_or_default();
                }
                (Step::NeedAtLeast(_), _) => {
                    self.pending.extend_from_slice(input);
                    break;
                }
            }
        }
        Ok(rows)
    }

    /// Moves bytes from `input` into the carry-over buffer until it holds a complete item,
    /// decodes that item, and returns the unused rest of `input`.
    fn complete_pending<'a>(
        &mut self,
        mut input: &'a [u8],
        out: &mut Batch,
        rows: &mut usize,
    ) -> Result<&'a [u8], CodecError> {
        let mut pending = std::mem::take(&mut self.pending);
        let result = loop {
            let need = match self.scan(&pending)? {
                Step::Consumed(_) => {
                    let step = self.step(&pending, out);
                    break step.map(|(step, is_row)| {
                        *rows += usize::from(is_row);
                        if let Step::Consumed(n) = step {
                            pending.drain(..n.min(pending.len()));
                        }
                    });
                }
                Step::NeedAtLeast(need) => need,
            };
            let take = need.saturating_sub(pending.len()).min(input.len());
            if take == 0 {
                break Ok(());
            }
            let (head, rest) = input.split_at(take);
            pending.extend_from_slice(head);
            input = rest;
        };
        self.pending = pending;
        result.map(|()| input)
    }

    /// Measures the next item without decoding it.
    fn scan(&self, buf: &[u8]) -> Result<Step, CodecError> {
        match self.state {
            State::Header => scan_header(buf),
            State::Tuples => scan_tuple(buf),
            State::Done => Err(stream_err("data after the end-of-data trailer")),
        }
    }

    /// Consumes the next item of `buf`: the header, one row (true) or the trailer.
    fn step(&mut self, buf: &[u8], out: &mut Batch) -> Result<(Step, bool), CodecError> {
        match self.state {
            State::Header => {
                let step = scan_header(buf)?;
                if let Step::Consumed(_) = step {
                    self.state = State::Tuples;
                }
                Ok((step, false))
            }
            State::Tuples => self.decode_tuple(buf, out),
            State::Done => Err(stream_err("data after the end-of-data trailer")),
        }
    }

    /// Decodes one tuple (or the trailer) from the start of `buf` in a single pass.
    fn decode_tuple(&mut self, buf: &[u8], out: &mut Batch) -> Result<(Step, bool), CodecError> {
        let Some((&count, mut rest)) = buf.split_first_chunk::<2>() else {
            return Ok((Step::NeedAtLeast(2), false));
        };
        let count = i16::from_be_bytes(count);
        if count == -1 {
            self.state = State::Done;
            return Ok((Step::Consumed(2), false));
        }
        if usize::try_from(count).ok() != Some(self.types.len()) {
            return Err(stream_err(format!(
                "a row has {count} fields, expected {}",
                self.types.len()
            )));
        }
        self.row.clear();
        for (i, ty) in self.types.iter().enumerate() {
            let Some((&len, after)) = rest.split_first_chunk::<4>() else {
                self.row.clear();
                return Ok((Step::NeedAtLeast(buf.len() + 1), false));
            };
            let len = i32::from_be_bytes(len);
            if len == -1 {
                self.row.push(Value::Null);
                rest = after;
                continue;
            }
            let Ok(len) = usize::try_from(len) else {
                return Err(stream_err(format!("invalid field length {len}")));
            };
            if len > after.len() {
                self.row.clear();
                return Ok((Step::NeedAtLeast(buf.len() + 1), false));
            }
            let (field, after) = after.split_at(len);
            let res = match self.scalars.get(i).copied().flatten() {
                Some(s) => Resolved::Scalar(s),
                None => resolve(ty),
            };
            let value = decode_resolved(res, ty, field)
                .map_err(|e| e.in_column(self.column_name(i, ty)))?;
            self.row.push(value);
            rest = after;
        }
        out.push_row(self.row.drain(..));
        self.rows += 1;
        Ok((Step::Consumed(buf.len() - rest.len()), true))
    }

    fn column_name(&self, i: usize, ty: &Type) -> String {
        match self.schema.columns.get(i) {
            Some(c) => format!("\"{}\" ({})", c.name, type_name(ty)),
            None => format!("{} ({})", i + 1, type_name(ty)),
        }
    }

    /// Checks that the stream ended with its trailer and nothing is left over.
    pub fn finish(&self) -> Result<(), CodecError> {
        match self.state {
            State::Header => Err(stream_err(
                "the stream ended before its header was complete",
            )),
            State::Tuples if self.pending.is_empty() => Err(stream_err(
                "the stream ended without its end-of-data trailer",
            )),
            State::Tuples => Err(stream_err(format!(
                "the stream ended inside a row ({} bytes left over)",
                self.pending.len()
            ))),
            State::Done if !self.pending.is_empty() => Err(stream_err(format!(
                "{} bytes after the end-of-data trailer",
                self.pending.len()
            ))),
            State::Done => Ok(()),
        }
    }
}

/// Validates the header at the start of `buf` and measures it.
pub(super) fn scan_header(buf: &[u8]) -> Result<Step, CodecError> {
    let Some((head, _)) = buf.split_first_chunk::<HEADER_LEN>() else {
        // Reject a wrong signature as early as its first bytes allow.
        let n = buf.len().min(SIGNATURE.len());
        if buf.get(..n) != SIGNATURE.get(..n) {
            return Err(stream_err("missing PGCOPY signature"));
        }
        return Ok(Step::NeedAtLeast(HEADER_LEN));
    };
    let Some((sig, rest)) = head.split_first_chunk::<11>() else {
        return Ok(Step::NeedAtLeast(HEADER_LEN));
    };
    if sig != SIGNATURE {
        return Err(stream_err("missing PGCOPY signature"));
    }
    let Some((&flags, rest)) = rest.split_first_chunk::<4>() else {
        return Ok(Step::NeedAtLeast(HEADER_LEN));
    };
    let flags = u32::from_be_bytes(flags);
    if flags & FLAG_OIDS != 0 {
        return Err(stream_err("rows with OIDs are not supported"));
    }
    if flags & CRITICAL_FLAGS != 0 {
        return Err(stream_err(format!(
            "unknown critical header flags {flags:#x}"
        )));
    }
    let Some((&ext, _)) = rest.split_first_chunk::<4>() else {
        return Ok(Step::NeedAtLeast(HEADER_LEN));
    };
    let ext = usize::try_from(u32::from_be_bytes(ext))
        .map_err(|_| stream_err("header extension too long"))?;
    let total = HEADER_LEN
        .checked_add(ext)
        .ok_or_else(|| stream_err("header extension too long"))?;
    Ok(if buf.len() >= total {
        Step::Consumed(total)
    } else {
        Step::NeedAtLeast(total)
    })
}

/// Measures the tuple (or trailer) at the start of `buf` from its length words only.
pub(super) fn scan_tuple(buf: &[u8]) -> Result<Step, CodecError> {
    let Some((&count, _)) = buf.split_first_chunk::<2>() else {
        return Ok(Step::NeedAtLeast(2));
    };
    let count = i16::from_be_bytes(count);
    if count == -1 {
        return Ok(Step::Consumed(2));
    }
    let count =
        usize::try_from(count).map_err(|_| stream_err(format!("invalid field count {count}")))?;
    let mut pos: usize = 2;
    for _ in 0..count {
        let Some(len) = buf.get(pos..pos + 4) else {
            return Ok(Step::NeedAtLeast(pos + 4));
        };
        let len = match <[u8; 4]>::try_from(len) {
            Ok(b) => i32::from_be_bytes(b),
            Err(_) => return Ok(Step::NeedAtLeast(pos + 4)),
        };
        pos += 4;
        if len == -1 {
            continue;
        }
        let len =
            usize::try_from(len).map_err(|_| stream_err(format!("invalid field length {len}")))?;
        pos = pos
            .checked_add(len)
            .ok_or_else(|| stream_err("field too long"))?;
        if pos > buf.len() {
            return Ok(Step::NeedAtLeast(pos));
        }
    }
    Ok(Step::Consumed(pos))
}

/// Writes the 19-byte binary COPY header (no flags, no extension).
pub fn write_header(out: &mut BytesMut) {
    out.put_slice(SIGNATURE);
    out.put_i32(0);
    out.put_i32(0);
}

/// Writes the end-of-data trailer.
pub fn write_trailer(out: &mut BytesMut) {
    out.put_i16(-1);
}

/// Appends one row, each value encoded for the column type at the same position (NULL as
/// length -1). On error nothing of the row stays in `out`, and the error names the column.
pub fn write_row(row: &[Value], types: &[Type], out: &mut BytesMut) -> Result<(), CodecError> {
    if row.len() != types.len() {
        return Err(stream_err(format!(
            "a row has {} values for {} columns",
            row.len(),
            types.len()
        )));
    }
    let count = i16::try_from(row.len())
        .map_err(|_| stream_err(format!("{} columns exceed COPY's limit", row.len())))?;
    let start = out.len();
    out.put_i16(count);
    for (i, (v, ty)) in row.iter().zip(types).enumerate() {
        if let Err(e) = encode_resolved_with_len(v, resolve(ty), ty, out) {
            out.truncate(start);
            return Err(e.in_column(format!("{} ({})", i + 1, type_name(ty))));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::schema::{Column, DataType, Schema};
    use crate::types::value::ArrayValue;
    use std::sync::Arc;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Column::new("id", DataType::Int32, "int4"),
            Column::new("name", DataType::Text, "text"),
            Column::new("tags", DataType::Array(Box::new(DataType::Int64)), "_int8"),
        ]))
    }

    fn types() -> Vec<Type> {
        vec![Type::INT4, Type::TEXT, Type::INT8_ARRAY]
    }

    fn sample_rows() -> Vec<Vec<Value>> {
        (0..5)
            .map(|i| {
                vec![
                    Value::Int32(i),
                    if i % 2 == 0 {
                        Value::Null
                    } else {
                        Value::Text(format!("row {i}\twith tab"))
                    },
                    Value::Array(Box::new(ArrayValue {
                        dims: vec![(2, 1)],
                        elements: vec![Value::Int64(i64::from(i)), Value::Null],
                    })),
                ]
            })
            .collect()
    }

    fn stream(rows: &[Vec<Value>]) -> Vec<u8> {
        let mut out = BytesMut::new();
        write_header(&mut out);
        for r in rows {
            assert!(write_row(r, &types(), &mut out).is_ok());
        }
        write_trailer(&mut out);
        out.to_vec()
    }

    fn decode_in_chunks(data: &[u8], size: usize) -> Result<Vec<Vec<Value>>, CodecError> {
        let mut dec = CopyOutDecoder::new(types(), schema());
        let mut batch = Batch::new(schema());
        let mut rows = 0;
        for chunk in data.chunks(size.max(1)) {
            rows += dec.feed(chunk, &mut batch)?;
        }
        dec.finish()?;
        assert_eq!(rows, batch.num_rows());
        assert_eq!(dec.bytes(), data.len() as u64);
        Ok(batch.rows().map(<[Value]>::to_vec).collect())
    }

    #[test]
    fn decodes_whatever_the_chunking() {
        let rows = sample_rows();
        let data = stream(&rows);
        for size in [1, 2, 3, 5, 7, 18, 19, 20, 33, 64, data.len()] {
            assert_eq!(
                decode_in_chunks(&data, size).map_err(|e| e.to_string()),
                Ok(rows.clone()),
                "chunk size {size}"
            );
        }
    }

    #[test]
    fn header_with_extension_and_empty_stream() {
        let mut data = BytesMut::new();
        data.put_slice(SIGNATURE);
        data.put_i32(0);
        data.put_i32(3);
        data.put_slice(b"ext");
        write_trailer(&mut data);
        for size in [1, 4, 30] {
            assert_eq!(decode_in_chunks(&data, size).ok(), Some(vec![]));
        }
    }

    #[test]
    fn incomplete_or_extra_data_is_reported() {
        let data = stream(&sample_rows());
        let cut = data.get(..data.len() - 2).unwrap_or_default();
        let e = decode_in_chunks(cut, 8).err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("without its end-of-data trailer")));
        let mid = data.get(..data.len() - 9).unwrap_or_default();
        let e = decode_in_chunks(mid, 8).err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("inside a row")), "{mid:?}");
        let mut extra = data.clone();
        extra.push(0);
        assert!(decode_in_chunks(&extra, 1000).is_err());
        assert!(decode_in_chunks(&extra, 1).is_err());
        assert!(decode_in_chunks(b"PGCOPY\n\xff\r\n\x01", 4).is_err());
        assert!(decode_in_chunks(b"", 4).is_err());
    }

    #[test]
    fn bad_rows_name_the_column() {
        let mut data = BytesMut::new();
        write_header(&mut data);
        data.put_i16(3);
        data.put_i32(2); // an int4 of 2 bytes
        data.put_i16(1);
        data.put_i32(-1);
        data.put_i32(-1);
        write_trailer(&mut data);
        let e = decode_in_chunks(&data, 100).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("column \"id\" (int4): malformed binary int4 value: expected 4 bytes, got 2")
        );
        let mut wrong_count = BytesMut::new();
        write_header(&mut wrong_count);
        wrong_count.put_i16(2);
        assert!(decode_in_chunks(&wrong_count, 100).is_err());
    }

    #[test]
    fn write_row_rolls_back_and_names_the_column() {
        let mut out = BytesMut::from(&b"x"[..]);
        let row = [Value::Int32(1), Value::Int32(2), Value::Null];
        let e = write_row(&row, &types(), &mut out)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("column 2 (text): cannot write Int32 into a column of type text")
        );
        assert_eq!(&out[..], b"x");
        assert!(write_row(&row[..2], &types(), &mut out).is_err());
        let mut ok = BytesMut::new();
        assert!(write_row(&[Value::Null, Value::Null, Value::Null], &types(), &mut ok).is_ok());
        assert_eq!(
            &ok[..],
            &[0, 3, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255]
        );
    }

    #[test]
    fn garbage_streams_never_panic() {
        let good = stream(&sample_rows());
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..3000 {
            let mut bad = good.clone();
            for _ in 0..(1 + next() % 3) {
                let i = (next() % bad.len() as u64) as usize;
                if let Some(b) = bad.get_mut(i) {
                    *b = next() as u8;
                }
            }
            let size = 1 + (round % 40);
            let _ = decode_in_chunks(&bad, size);
        }
        for len in 0..100 {
            let mut data = SIGNATURE.to_vec();
            data.extend_from_slice(&[0; 8]);
            data.extend((0..len).map(|_| next() as u8));
            let _ = decode_in_chunks(&data, 1 + len % 7);
        }
    }
}
