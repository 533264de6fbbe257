//! File format settings read from a dataset's `typeProperties` and a copy's
//! `formatSettings`: whole-file compression (DelimitedText's `compressionCodec`, Json's
//! `compression`), Json's file pattern and Parquet's codec. Pure settings; the readers and
//! writers that use them live with the file stores.

use crate::model::props::Props;
use crate::ModelError;

/// A whole-file codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip(flate2::Compression),
    Deflate(flate2::Compression),
}

impl Compression {
    /// DelimitedText: `compressionCodec` (`none`, `gzip`, `deflate`) and `compressionLevel`
    /// (`Optimal`, `Fastest`).
    pub fn from_codec(tp: &Props<'_>) -> Result<Compression, ModelError> {
        let level = level(tp, "compressionLevel")?;
        match tp.str("compressionCodec")?.map(str::trim) {
            None => Ok(Compression::None),
            Some(c) => codec(tp, "compressionCodec", c, level),
        }
    }

    /// Json: `compression: {"type": "GZip", "level": "Optimal"}`.
    pub fn from_object(tp: &Props<'_>) -> Result<Compression, ModelError> {
        let Some(c) = tp.object("compression")? else {
            return Ok(Compression::None);
        };
        let level = level(&c, "level")?;
        match c.str("type")?.map(str::trim) {
            None => Ok(Compression::None),
            Some(t) => codec(&c, "type", t, level),
        }
    }

    /// The file name extension ADF gives compressed files.
    pub fn extension(&self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip(_) => ".gz",
            Compression::Deflate(_) => ".deflate",
        }
    }
}

fn level(p: &Props<'_>, key: &str) -> Result<flate2::Compression, ModelError> {
    match p.str(key)?.map(str::trim) {
        None | Some("") => Ok(flate2::Compression::default()),
        Some(l) if l.eq_ignore_ascii_case("Optimal") => Ok(flate2::Compression::best()),
        Some(l) if l.eq_ignore_ascii_case("Fastest") => Ok(flate2::Compression::fast()),
        Some(other) => Err(p.err(
            key,
            format!("'{other}' is not a compression level; use Optimal or Fastest"),
        )),
    }
}

fn codec(
    p: &Props<'_>,
    key: &str,
    name: &str,
    level: flate2::Compression,
) -> Result<Compression, ModelError> {
    match name.to_ascii_lowercase().as_str() {
        "" | "none" => Ok(Compression::None),
        "gzip" => Ok(Compression::Gzip(level)),
        "deflate" => Ok(Compression::Deflate(level)),
        _ => Err(p.err(
            key,
            format!("compression '{name}' is not supported; use gzip, deflate or none"),
        )),
    }
}

/// How a Json sink lays out its rows (ADF's `JsonWriteSettings.filePattern`).
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilePattern {
    /// One object per line (JSON lines), ADF's default.
    #[default]
    SetOfObjects,
    /// One JSON array holding every object.
    ArrayOfObjects,
}

/// A Json dataset's format properties plus its source's/sink's `formatSettings`.
#[derive(Default, Clone, Debug, PartialEq)]
pub struct JsonSettings {
    /// How the sink lays out rows; the reader accepts both layouts whatever this says.
    pub file_pattern: FilePattern,
}

impl JsonSettings {
    /// Reads the Json dataset's format properties from its `typeProperties`: `encodingName`
    /// (UTF-8, the default, is the only encoding supported). `location` and `compression` are
    /// the file store's to read.
    pub fn from_dataset(tp: &Props<'_>) -> Result<JsonSettings, ModelError> {
        if let Some(enc) = tp.str("encodingName")? {
            let norm = enc.trim().to_ascii_uppercase().replace(['-', '_'], "");
            if norm != "UTF8" && !norm.is_empty() {
                return Err(tp.err(
                    "encodingName",
                    format!("Sluice reads and writes JSON as UTF-8 only, found {enc:?}"),
                ));
            }
        }
        Ok(JsonSettings::default())
    }

    /// Applies a copy source's or sink's `formatSettings` (`JsonReadSettings` /
    /// `JsonWriteSettings`; the sink's `filePattern`).
    pub fn apply_format_settings(&mut self, fs: &Props<'_>, sink: bool) -> Result<(), ModelError> {
        let expected = if sink {
            "JsonWriteSettings"
        } else {
            "JsonReadSettings"
        };
        if let Some(ty) = fs.str("type")? {
            if !ty.eq_ignore_ascii_case(expected) {
                return Err(fs.err(
                    "type",
                    format!("expected {expected:?} for a Json format, found {ty:?}"),
                ));
            }
        }
        if sink {
            if let Some(p) = fs.str("filePattern")? {
                self.file_pattern = match p.trim().to_ascii_lowercase().as_str() {
                    "setofobjects" => FilePattern::SetOfObjects,
                    "arrayofobjects" => FilePattern::ArrayOfObjects,
                    _ => {
                        return Err(fs.err(
                            "filePattern",
                            format!("expected \"setOfObjects\" or \"arrayOfObjects\", found {p:?}"),
                        ))
                    }
                };
            }
        }
        Ok(())
    }
}

/// A Parquet dataset's `compressionCodec`.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParquetCodec {
    None,
    /// ADF's default.
    #[default]
    Snappy,
    Gzip,
    Zstd,
    /// LZ4 in the `LZ4_RAW` framing every current Parquet reader understands.
    Lz4,
}

/// A Parquet dataset's format properties.
#[derive(Default, Clone, Debug, PartialEq)]
pub struct ParquetSettings {
    pub codec: ParquetCodec,
}

impl ParquetSettings {
    /// Reads the Parquet dataset's format properties from its `typeProperties`:
    /// `compressionCodec` (`none`, `snappy` (default), `gzip`, `zstd`, `lz4`; case-insensitive).
    pub fn from_dataset(tp: &Props<'_>) -> Result<ParquetSettings, ModelError> {
        let codec = match tp.str("compressionCodec")? {
            None => ParquetCodec::default(),
            Some(c) => match c.trim().to_ascii_lowercase().as_str() {
                "none" | "" => ParquetCodec::None,
                "snappy" => ParquetCodec::Snappy,
                "gzip" => ParquetCodec::Gzip,
                "zstd" => ParquetCodec::Zstd,
                "lz4" => ParquetCodec::Lz4,
                _ => {
                    return Err(tp.err(
                        "compressionCodec",
                        format!(
                            "unsupported Parquet compression codec {c:?}; use none, snappy, gzip, zstd or lz4"
                        ),
                    ))
                }
            },
        };
        Ok(ParquetSettings { codec })
    }
}
