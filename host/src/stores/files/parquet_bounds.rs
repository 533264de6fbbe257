//! Bounds on the sizes a Parquet file declares for its pages, checked before the `parquet` crate
//! allocates from them.
//!
//! Why this exists: the crate (60.1.0) sizes buffers from lengths it reads from the file. A
//! dictionary page's `num_values` sizes the decoded dictionary, filled with default values so the
//! memory is really used (up to 2^31 values of 1 to 32 bytes); the Snappy and LZ4 codecs
//! zero-fill a buffer of the page header's `uncompressed_page_size` (up to 2 GiB) before they
//! decompress. A forged file of a few kilobytes so made the process use gigabytes (found by the
//! `parquet` fuzz target, see `host/fuzz/README.md`). Before any row is read, [`check_pages`]
//! walks every column chunk's page headers the way the crate will read them and refuses, naming
//! the file, sizes no writer produces:
//!
//! - a column chunk lies within the file, and each page within its column chunk;
//! - a compressed page cannot decompress to more than its codec's largest possible expansion of
//!   its compressed bytes ([`max_expansion`]);
//! - a dictionary page holds PLAIN-encoded values, each at least one bit (BOOLEAN) or its
//!   physical type's width (a BYTE_ARRAY value at least its 4-byte length), so it cannot hold
//!   more values than its decoded bytes allow ([`max_dictionary_values`]).
//!
//! Page headers are Thrift compact structs and the crate's reader for them is private, so
//! [`Compact`] reads them here. It follows the crate's reader where that departs from the Thrift
//! specification (fields matched by id whatever their wire type, `i32` values truncated from a
//! varint of any length, booleans inside a skipped list or map taking no bytes), so that both see
//! the same sizes in the same header.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use parquet::basic::{Compression, Type as PhysicalType};
use parquet::file::metadata::{ColumnChunkMetaData, ParquetMetaData};

use crate::stores::{StoreError, StoreErrorKind};

/// Bytes read for a page header at first; a header with large statistics gets more.
const HEADER_FIRST_READ: usize = 1024;
/// A page header larger than this is refused (writers truncate page statistics to a few hundred
/// bytes at most; the header is otherwise a few dozen).
const MAX_HEADER_BYTES: usize = 16 * 1024 * 1024;
/// The crate's limit on how deep a skipped Thrift value may nest.
const SKIP_DEPTH: u32 = 64;
/// Bytes a compressed page may decode to beyond its codec's expansion ratio: framing (a gzip
/// header and trailer, an LZ4 Hadoop block header) makes tiny pages exceed the ratio.
const EXPANSION_SLACK: i64 = 1024;

/// Page types, as the page header numbers them.
const INDEX_PAGE: i32 = 1;
const DICTIONARY_PAGE: i32 = 2;

/// Walks the page headers of every column chunk in the file and refuses sizes no writer
/// produces (see the module documentation). `file_len` is the file's length in bytes.
pub(super) fn check_pages(
    file: &File,
    file_len: u64,
    metadata: &ParquetMetaData,
    label: &str,
) -> Result<(), StoreError> {
    for (rg, row_group) in metadata.row_groups().iter().enumerate() {
        for (c, chunk) in row_group.columns().iter().enumerate() {
            let at = Chunk {
                file,
                label,
                row_group: rg,
                column: c,
            };
            at.check(chunk, file_len)?;
        }
    }
    Ok(())
}

/// One column chunk being checked: where it is, to name it in errors.
struct Chunk<'a> {
    file: &'a File,
    label: &'a str,
    row_group: usize,
    column: usize,
}

impl Chunk<'_> {
    fn implausible(&self, what: String) -> StoreError {
        StoreError::with_kind(
            StoreErrorKind::Data,
            format!(
                "{}: corrupt Parquet file: column {} of row group {}: {what}",
                self.label, self.column, self.row_group
            ),
        )
    }

    fn check(&self, meta: &ColumnChunkMetaData, file_len: u64) -> Result<(), StoreError> {
        // Where the crate starts reading the chunk (`ColumnChunkMetaData::byte_range`).
        let start = meta
            .dictionary_page_offset()
            .unwrap_or_else(|| meta.data_page_offset());
        let len = meta.compressed_size();
        let (Ok(start), Ok(len)) = (u64::try_from(start), u64::try_from(len)) else {
            return Err(self.implausible(format!(
                "the column chunk claims a negative offset or size ({start}, {len} bytes)"
            )));
        };
        if start.checked_add(len).is_none_or(|end| end > file_len) {
            return Err(self.implausible(format!(
                "the column chunk claims bytes {start}..{} of a file of {file_len} bytes",
                start.saturating_add(len)
            )));
        }
        let physical = meta.column_descr().physical_type();
        let type_length = meta.column_descr().type_length();
        let codec = meta.compression();
        let (mut offset, mut remaining) = (start, len);
        // As the crate's page reader: headers and pages follow each other to the chunk's end.
        while remaining > 0 {
            let (header_len, header) = self.read_header(offset, remaining)?;
            offset += header_len;
            remaining -= header_len;
            let (Some(compressed), Some(uncompressed)) = (header.compressed, header.uncompressed)
            else {
                return Err(self.implausible(format!(
                    "the page header at offset {} lacks the page's sizes",
                    offset - header_len
                )));
            };
            let body_len = u64::try_from(compressed).ok().filter(|&n| n <= remaining);
            let Some(body_len) = body_len.filter(|_| uncompressed >= 0) else {
                return Err(self.implausible(format!(
                    "the page at offset {offset} claims {compressed} bytes ({uncompressed} \
                     uncompressed) where the column chunk has {remaining} bytes left"
                )));
            };
            let page = Page {
                offset,
                header,
                compressed,
                uncompressed,
            };
            offset += body_len;
            remaining -= body_len;
            if page.header.page_type == Some(INDEX_PAGE) {
                continue; // the crate skips index pages unread
            }
            page.check(codec, physical, type_length)
                .map_err(|what| self.implausible(what))?;
        }
        Ok(())
    }

    /// Reads and parses the page header at `offset`, which must end within `remaining` bytes:
    /// its length in bytes and the fields the checks need.
    fn read_header(&self, offset: u64, remaining: u64) -> Result<(u64, PageHeader), StoreError> {
        let limit = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(MAX_HEADER_BYTES);
        let mut want = HEADER_FIRST_READ.min(limit);
        loop {
            let buf = self.read_at(offset, want)?;
            let mut prot = Compact { buf: &buf, pos: 0 };
            match prot.page_header() {
                Ok(header) => return Ok((prot.pos as u64, header)),
                Err(Fail::Bad(what)) => {
                    return Err(self.implausible(format!(
                        "the page header at offset {offset} is corrupt: {what}"
                    )))
                }
                Err(Fail::More) if want < limit => want = want.saturating_mul(16).min(limit),
                Err(Fail::More) if limit == MAX_HEADER_BYTES => {
                    return Err(self.implausible(format!(
                        "the page header at offset {offset} is larger than {MAX_HEADER_BYTES} \
                         bytes"
                    )))
                }
                Err(Fail::More) => {
                    return Err(self.implausible(format!(
                        "the page header at offset {offset} runs past the end of the column chunk"
                    )))
                }
            }
        }
    }

    /// Reads `len` bytes at `offset` (the caller checked they lie within the file).
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, StoreError> {
        let io = |e: std::io::Error| StoreError::new(format!("{}: cannot read: {e}", self.label));
        let mut file = self.file;
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        let mut buf = Vec::with_capacity(len);
        file.take(len as u64).read_to_end(&mut buf).map_err(io)?;
        Ok(buf)
    }
}

/// One page, its header read.
struct Page {
    /// Where the page's bytes start in the file.
    offset: u64,
    header: PageHeader,
    compressed: i32,
    uncompressed: i32,
}

impl Page {
    /// Checks the page's sizes against its codec and, for a dictionary page, its value count
    /// against its bytes. The error says what is implausible.
    fn check(
        &self,
        codec: Compression,
        physical: PhysicalType,
        type_length: i32,
    ) -> Result<(), String> {
        let offset = self.offset;
        let (compressed, uncompressed) = (i64::from(self.compressed), i64::from(self.uncompressed));
        // As the crate's `decode_page`: a v2 data page keeps its levels uncompressed in front and
        // may say its values are not compressed either.
        let (levels, values_compressed) = match &self.header.data_page_v2 {
            Some(v2) => (v2.levels().max(0), v2.is_compressed.unwrap_or(true)),
            None => (0, true),
        };
        let decompressed = codec != Compression::UNCOMPRESSED && values_compressed;
        if decompressed {
            if let Some(ratio) = max_expansion(codec) {
                let input = (compressed - levels).max(0);
                let output = uncompressed - levels;
                if output > input.saturating_mul(ratio).saturating_add(EXPANSION_SLACK) {
                    return Err(format!(
                        "the page at offset {offset} claims {uncompressed} bytes uncompressed \
                         from {compressed} bytes, more than {codec} can expand to"
                    ));
                }
            }
        }
        // What the values are decoded from: the decompressed bytes (the crate checks that they
        // are as many as the header says before it decodes), else the page's bytes as stored.
        let decoded = if decompressed {
            uncompressed
        } else {
            compressed
        };
        if self.header.page_type == Some(DICTIONARY_PAGE) {
            if let Some(values) = self.header.dictionary_values {
                let most = max_dictionary_values(physical, type_length, decoded);
                if i64::from(values) > most {
                    return Err(format!(
                        "the dictionary page at offset {offset} claims {values} {physical} \
                         values in {decoded} bytes (at most {most} fit)"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The largest factor by which `codec` can expand its input, where the crate sizes its output
/// buffer from the page header (or `None` where it grows the buffer as it decodes: ZSTD, whose
/// RLE blocks also make any bound loose; codecs the crate is built without fail by themselves).
/// Snappy: a 3-byte copy element yields at most 64 bytes. Deflate (gzip): at most 258 bytes per
/// 2 bits, 1032:1. LZ4: each extra match-length byte adds at most 255 bytes.
fn max_expansion(codec: Compression) -> Option<i64> {
    match codec {
        Compression::SNAPPY => Some(22),
        Compression::GZIP(_) => Some(1032),
        Compression::LZ4 | Compression::LZ4_RAW => Some(256),
        _ => None,
    }
}

/// The most PLAIN-encoded values of `physical` type that fit in `bytes`: one bit a BOOLEAN,
/// the width of a fixed-size type, 4 bytes (its length) a BYTE_ARRAY. A zero-width
/// FIXED_LEN_BYTE_ARRAY has a single distinct value, so a dictionary of at most one.
fn max_dictionary_values(physical: PhysicalType, type_length: i32, bytes: i64) -> i64 {
    let bits = match physical {
        PhysicalType::BOOLEAN => 1,
        PhysicalType::INT32 | PhysicalType::FLOAT | PhysicalType::BYTE_ARRAY => 32,
        PhysicalType::INT64 | PhysicalType::DOUBLE => 64,
        PhysicalType::INT96 => 96,
        PhysicalType::FIXED_LEN_BYTE_ARRAY if type_length > 0 => 8 * i64::from(type_length),
        PhysicalType::FIXED_LEN_BYTE_ARRAY => return 1,
    };
    bytes.max(0).saturating_mul(8) / bits
}

/// The fields of a page header the checks need (the crate's `PageHeader` is private).
#[derive(Debug, Default)]
struct PageHeader {
    page_type: Option<i32>,
    uncompressed: Option<i32>,
    compressed: Option<i32>,
    /// `dictionary_page_header.num_values`.
    dictionary_values: Option<i32>,
    data_page_v2: Option<DataPageV2>,
}

/// The fields of a v2 data page header the checks need.
#[derive(Debug, Default)]
struct DataPageV2 {
    definition_levels_byte_length: i32,
    repetition_levels_byte_length: i32,
    is_compressed: Option<bool>,
}

impl DataPageV2 {
    /// The levels' bytes, stored uncompressed in front of the values.
    fn levels(&self) -> i64 {
        i64::from(self.definition_levels_byte_length)
            + i64::from(self.repetition_levels_byte_length)
    }
}

/// Why a header could not be read.
enum Fail {
    /// The buffer ended inside the header: read more.
    More,
    /// The bytes are not a header the crate would read either.
    Bad(String),
}

/// Thrift compact types, as a field header or a list header numbers them.
const T_BOOL_TRUE: u8 = 1;
const T_BOOL_FALSE: u8 = 2;
const T_STRUCT: u8 = 12;
const T_UUID: u8 = 13;

/// A Thrift compact protocol reader over a page header's bytes, reading as the crate's
/// `ThriftCompactInputProtocol` does.
struct Compact<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Compact<'_> {
    fn byte(&mut self) -> Result<u8, Fail> {
        let b = *self.buf.get(self.pos).ok_or(Fail::More)?;
        self.pos += 1;
        Ok(b)
    }

    fn skip_bytes(&mut self, n: u64) -> Result<(), Fail> {
        let left = (self.buf.len() - self.pos) as u64;
        if n > left {
            return Err(Fail::More);
        }
        self.pos += n as usize;
        Ok(())
    }

    /// An unsigned LEB128 varint of any length, bits past 64 wrapping as the crate's do.
    fn varint(&mut self) -> Result<u64, Fail> {
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f).wrapping_shl(shift);
            if b & 0x80 == 0 {
                return Ok(value);
            }
            shift = shift.wrapping_add(7);
        }
    }

    fn zigzag(&mut self) -> Result<i64, Fail> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    /// An `i32` (or an enum), truncated from the varint as the crate's `read_i32` does.
    fn i32(&mut self) -> Result<i32, Fail> {
        Ok(self.zigzag()? as i32)
    }

    /// A field header: `None` at the struct's end, else the field's wire type and id.
    fn field(&mut self, last_id: i16) -> Result<Option<(u8, i16)>, Fail> {
        let b = self.byte()?;
        let wire = b & 0x0f;
        if wire == 0 {
            return Ok(None);
        }
        if wire > T_UUID {
            return Err(Fail::Bad(format!("invalid Thrift field type {wire}")));
        }
        let delta = i16::from(b >> 4);
        let id = if delta != 0 {
            last_id
                .checked_add(delta)
                .ok_or_else(|| Fail::Bad("Thrift field id overflows".to_string()))?
        } else {
            self.zigzag()? as i16
        };
        Ok(Some((wire, id)))
    }

    /// A boolean field's value, carried in its wire type.
    fn bool_field(wire: u8) -> Result<bool, Fail> {
        match wire {
            T_BOOL_TRUE => Ok(true),
            T_BOOL_FALSE => Ok(false),
            _ => Err(Fail::Bad(format!("Thrift field type {wire} for a boolean"))),
        }
    }

    /// A list, set or map element type (1 and 2 both mean boolean).
    fn element_type(t: u8) -> Result<u8, Fail> {
        match t {
            T_BOOL_TRUE | T_BOOL_FALSE => Ok(T_BOOL_TRUE),
            3..=T_UUID => Ok(t),
            _ => Err(Fail::Bad(format!("invalid Thrift element type {t}"))),
        }
    }

    /// Skips a value of wire type `wire`, as the crate's `skip_till_depth`.
    fn skip(&mut self, wire: u8, depth: u32) -> Result<(), Fail> {
        if depth == 0 {
            return Err(Fail::Bad("Thrift value nested too deep".to_string()));
        }
        match wire {
            T_BOOL_TRUE | T_BOOL_FALSE => Ok(()),
            3 => self.byte().map(|_| ()),
            4..=6 => self.varint().map(|_| ()),
            7 => self.skip_bytes(8),
            8 => {
                let len = self.varint()?;
                self.skip_bytes(len)
            }
            9 | 10 => {
                let b = self.byte()?;
                if b == 0 {
                    return Ok(()); // an empty list some writers write without element type
                }
                let element = Self::element_type(b & 0x0f)?;
                let size = match b >> 4 {
                    15 => i32::try_from(self.varint()?)
                        .map_err(|_| Fail::Bad("Thrift list size overflows".to_string()))?,
                    n => i32::from(n),
                };
                // Booleans in a skipped list take no bytes for the crate: nothing to skip.
                if element != T_BOOL_TRUE {
                    for _ in 0..size {
                        self.skip(element, depth - 1)?;
                    }
                }
                Ok(())
            }
            11 => {
                let size = i32::try_from(self.varint()?)
                    .map_err(|_| Fail::Bad("Thrift map size overflows".to_string()))?;
                if size > 0 {
                    let kv = self.byte()?;
                    let key = Self::element_type(kv >> 4)?;
                    let value = Self::element_type(kv & 0x0f)?;
                    if key != T_BOOL_TRUE || value != T_BOOL_TRUE {
                        for _ in 0..size {
                            self.skip(key, depth - 1)?;
                            self.skip(value, depth - 1)?;
                        }
                    }
                }
                Ok(())
            }
            T_STRUCT => {
                while let Some((wire, _)) = self.field(0)? {
                    self.skip(wire, depth - 1)?;
                }
                Ok(())
            }
            T_UUID => self.skip_bytes(16),
            _ => Err(Fail::Bad(format!("cannot skip Thrift type {wire}"))),
        }
    }

    /// A struct read by field id, as the crate's generated readers: `read(self, id, wire)`
    /// reads the fields it knows and returns `false` for the others, which are skipped.
    fn fields(
        &mut self,
        mut read: impl FnMut(&mut Self, i16, u8) -> Result<bool, Fail>,
    ) -> Result<(), Fail> {
        let mut last_id = 0i16;
        while let Some((wire, id)) = self.field(last_id)? {
            if !read(self, id, wire)? {
                self.skip(wire, SKIP_DEPTH)?;
            }
            last_id = id;
        }
        Ok(())
    }

    /// A `PageHeader`, read as the crate's `PageHeader::read_thrift_without_stats`.
    fn page_header(&mut self) -> Result<PageHeader, Fail> {
        let mut h = PageHeader::default();
        self.fields(|p, id, _| {
            match id {
                1 => h.page_type = Some(p.i32()?),
                2 => h.uncompressed = Some(p.i32()?),
                3 => h.compressed = Some(p.i32()?),
                4 => _ = p.i32()?, // crc
                // DataPageHeader: num_values and the three encodings.
                5 => p.fields(|p, id, _| match id {
                    1..=4 => p.i32().map(|_| true),
                    _ => Ok(false),
                })?,
                6 => p.fields(|_, _, _| Ok(false))?, // IndexPageHeader, empty
                7 => h.dictionary_values = p.dictionary_page_header()?,
                8 => h.data_page_v2 = Some(p.data_page_header_v2()?),
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(h)
    }

    /// A `DictionaryPageHeader`'s `num_values`.
    fn dictionary_page_header(&mut self) -> Result<Option<i32>, Fail> {
        let mut num_values = None;
        self.fields(|p, id, wire| match id {
            1 => {
                num_values = Some(p.i32()?);
                Ok(true)
            }
            2 => p.i32().map(|_| true),                // encoding
            3 => Self::bool_field(wire).map(|_| true), // is_sorted
            _ => Ok(false),
        })?;
        Ok(num_values)
    }

    /// A `DataPageHeaderV2`, as the crate's `read_thrift_without_stats`.
    fn data_page_header_v2(&mut self) -> Result<DataPageV2, Fail> {
        let mut v2 = DataPageV2::default();
        self.fields(|p, id, wire| match id {
            1..=4 => p.i32().map(|_| true),
            5 => {
                v2.definition_levels_byte_length = p.i32()?;
                Ok(true)
            }
            6 => {
                v2.repetition_levels_byte_length = p.i32()?;
                Ok(true)
            }
            7 => {
                v2.is_compressed = Some(Self::bool_field(wire)?);
                Ok(true)
            }
            _ => Ok(false),
        })?;
        Ok(v2)
    }
}
