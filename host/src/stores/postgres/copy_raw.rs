//! Binary COPY tuples passed through without decoding.
//!
//! When a PostgreSQL -> PostgreSQL copy has nothing that looks inside rows (no plugin, no
//! column mapping that reorders, no skipping of bad rows) and every column has the same
//! built-in type on both sides, the rows the source server sends are exactly the rows the sink
//! server wants: decoding them into engine values and encoding them again only burns the CPU
//! that both servers need (the psql pipe baseline does no such work). [`TupleFramer`] instead
//! finds tuple boundaries from the length words alone, so rows can still be counted, split into
//! `writeBatchSize` commit units and checked for the right field count, while their bytes move
//! untouched.

use bytes::BytesMut;

use super::binary::CodecError;
use super::copy_binary::{scan_header, scan_tuple, stream_err, Step};

/// Type OIDs below this are built into PostgreSQL and the same on every server, so their
/// binary form (arrays carry their element type's OID) means the same thing on both ends.
pub const FIRST_USER_OID: u32 = 16_384;

/// Splits a binary `COPY ... TO STDOUT` stream into whole tuples, dropping the header and the
/// trailer.
#[derive(Debug)]
pub struct TupleFramer {
    width: usize,
    header_done: bool,
    done: bool,
    /// Bytes of an item split across chunks (usually empty).
    carry: Vec<u8>,
    bytes: u64,
}

impl TupleFramer {
    /// A framer for rows of `width` fields.
    pub fn new(width: usize) -> Self {
        TupleFramer {
            width,
            header_done: false,
            done: false,
            carry: Vec::new(),
            bytes: 0,
        }
    }

    /// Total bytes fed so far (the COPY payload size, for `dataRead`).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Appends the complete tuples in `chunk` (plus any tuple carried over from the previous
    /// chunk) to `out` and returns how many it appended. A tuple cut off at the end of the
    /// chunk is kept until the next call.
    pub fn feed(&mut self, chunk: &[u8], out: &mut BytesMut) -> Result<usize, CodecError> {
        self.bytes += chunk.len() as u64;
        let mut input = chunk;
        let mut rows = 0;
        while !self.carry.is_empty() {
            let carry = std::mem::take(&mut self.carry);
            match self.take_item(&carry, out)? {
                Some((n, is_row)) => {
                    rows += usize::from(is_row);
                    // Only bytes the item needed were carried, but stay exact regardless.
                    self.carry = carry.get(n..).unwrap_or_default().to_vec();
                }
                None => {
                    let need = self.need(&carry)?;
                    let take = need.saturating_sub(carry.len()).min(input.len());
                    self.carry = carry;
                    if take == 0 {
                        return Ok(rows);
                    }
                    let (head, rest) = input.split_at(take);
                    self.carry.extend_from_slice(head);
                    input = rest;
                }
            }
        }
        while !input.is_empty() {
            match self.take_item(input, out)? {
                Some((n, is_row)) => {
                    rows += usize::from(is_row);
                    input = input.get(n..).unwrap_or_default();
                }
                None => {
                    self.carry.extend_from_slice(input);
                    break;
                }
            }
        }
        Ok(rows)
    }

    /// Bytes the item at the start of `buf` needs in total (it is incomplete).
    fn need(&self, buf: &[u8]) -> Result<usize, CodecError> {
        let step = if self.header_done {
            scan_tuple(buf)?
        } else {
            scan_header(buf)?
        };
        Ok(match step {
            Step::NeedAtLeast(n) => n,
            Step::Consumed(n) => n,
        })
    }

    /// Consumes the item at the start of `buf` (header, tuple or trailer) when it is complete:
    /// `(bytes consumed, whether it was a row)`; tuples are appended to `out`.
    fn take_item(
        &mut self,
        buf: &[u8],
        out: &mut BytesMut,
    ) -> Result<Option<(usize, bool)>, CodecError> {
        if self.done {
            return Err(stream_err("data after the end-of-data trailer"));
        }
        if !self.header_done {
            return Ok(match scan_header(buf)? {
                Step::Consumed(n) => {
                    self.header_done = true;
                    Some((n, false))
                }
                Step::NeedAtLeast(_) => None,
            });
        }
        let Step::Consumed(n) = scan_tuple(buf)? else {
            return Ok(None);
        };
        let count = buf.first_chunk::<2>().map_or(0, |c| i16::from_be_bytes(*c));
        if count == -1 {
            self.done = true;
            return Ok(Some((n, false)));
        }
        if usize::try_from(count).ok() != Some(self.width) {
            return Err(stream_err(format!(
                "a row has {count} fields, expected {}",
                self.width
            )));
        }
        out.extend_from_slice(buf.get(..n).unwrap_or_default());
        Ok(Some((n, true)))
    }

    /// Checks that the stream ended with its trailer and nothing is left over.
    pub fn finish(&self) -> Result<(), CodecError> {
        match (self.header_done, self.done, self.carry.len()) {
            (false, _, _) => Err(stream_err(
                "the stream ended before its header was complete",
            )),
            (true, false, 0) => Err(stream_err(
                "the stream ended without its end-of-data trailer",
            )),
            (true, false, n) => Err(stream_err(format!(
                "the stream ended inside a row ({n} bytes left over)"
            ))),
            (true, true, 0) => Ok(()),
            (true, true, n) => Err(stream_err(format!(
                "{n} bytes after the end-of-data trailer"
            ))),
        }
    }
}

/// The byte offset just after the first `rows` tuples of `data`, which holds whole tuples
/// only (what [`TupleFramer`] produced); `data.len()` when it has no more than `rows`.
pub fn split_after(data: &[u8], rows: usize) -> Result<usize, CodecError> {
    let mut pos = 0;
    for _ in 0..rows {
        if pos >= data.len() {
            break;
        }
        match scan_tuple(&data[pos..])? {
            Step::Consumed(n) => pos += n,
            Step::NeedAtLeast(_) => return Err(stream_err("a tuple is cut off")),
        }
    }
    Ok(pos)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::stores::postgres::copy_binary::{write_header, write_row, write_trailer};
    use crate::types::value::Value;
    use tokio_postgres::types::Type;

    fn stream(rows: usize) -> (Vec<u8>, Vec<u8>) {
        let types = [Type::INT4, Type::TEXT];
        let mut tuples = BytesMut::new();
        for i in 0..rows {
            let text = if i % 3 == 0 {
                Value::Null
            } else {
                Value::Text("x".repeat(i % 17))
            };
            write_row(&[Value::Int32(i as i32), text], &types, &mut tuples).unwrap();
        }
        let mut full = BytesMut::new();
        write_header(&mut full);
        full.extend_from_slice(&tuples);
        write_trailer(&mut full);
        (full.to_vec(), tuples.to_vec())
    }

    #[test]
    fn frames_tuples_whatever_the_chunking() {
        let (full, tuples) = stream(50);
        for size in [1, 2, 3, 7, 19, 20, 64, full.len()] {
            let mut f = TupleFramer::new(2);
            let mut out = BytesMut::new();
            let mut rows = 0;
            for chunk in full.chunks(size) {
                rows += f.feed(chunk, &mut out).unwrap();
            }
            f.finish().unwrap();
            assert_eq!(rows, 50, "chunk size {size}");
            assert_eq!(&out[..], &tuples[..], "chunk size {size}");
            assert_eq!(f.bytes(), full.len() as u64);
        }
    }

    #[test]
    fn broken_streams_are_errors() {
        let (full, _) = stream(5);
        let mut f = TupleFramer::new(3);
        assert!(f.feed(&full, &mut BytesMut::new()).is_err(), "wrong width");
        let mut f = TupleFramer::new(2);
        f.feed(&full[..full.len() - 5], &mut BytesMut::new())
            .unwrap();
        assert!(f.finish().unwrap_err().to_string().contains("inside a row"));
        let mut f = TupleFramer::new(2);
        let mut more = full.clone();
        more.extend_from_slice(&[0, 1]);
        assert!(f.feed(&more, &mut BytesMut::new()).is_err());
        assert!(TupleFramer::new(2)
            .feed(b"NOTCOPY\n\xff\r\n\0", &mut BytesMut::new())
            .is_err());
    }

    #[test]
    fn splits_after_whole_tuples() {
        let (_, tuples) = stream(10);
        let at = split_after(&tuples, 4).unwrap();
        let mut f = TupleFramer::new(2);
        let mut out = BytesMut::new();
        let mut head = BytesMut::new();
        write_header(&mut head);
        head.extend_from_slice(&tuples[..at]);
        write_trailer(&mut head);
        assert_eq!(f.feed(&head, &mut out).unwrap(), 4);
        assert_eq!(split_after(&tuples, 10).unwrap(), tuples.len());
        assert_eq!(split_after(&tuples, 99).unwrap(), tuples.len());
        assert_eq!(split_after(&tuples, 0).unwrap(), 0);
    }
}
