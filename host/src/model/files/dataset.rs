//! File datasets (`DelimitedText`, `Json`, `Parquet`) and what a Copy source or sink adds to
//! them (`storeSettings`, `formatSettings`, `additionalColumns`), read from ADF's JSON.

use serde_json::Value as Json;

use super::confine;
use super::csv_format::CsvFormat;
use super::formats::{Compression, JsonSettings, ParquetSettings};
use super::location::{FileLocation, Selection};
use crate::model::linked_service::LinkedService;
use crate::model::props::Props;
use crate::ModelError;

/// Dataset types stored as files.
pub const FILE_DATASET_TYPES: [&str; 4] = ["DelimitedText", "Json", "Parquet", "Binary"];

/// How a file's rows are laid out.
#[derive(Debug, Clone)]
pub enum FileFormat {
    DelimitedText(CsvFormat),
    Json(JsonSettings),
    Parquet(ParquetSettings),
    /// Files as they are, without rows: the dataset GetMetadata and Delete are usually given.
    /// A Copy does not read or write it (yet).
    Binary,
}

impl FileFormat {
    /// The dataset type (`DelimitedText`, ...).
    pub fn type_label(&self) -> &'static str {
        match self {
            FileFormat::DelimitedText(_) => "DelimitedText",
            FileFormat::Json(_) => "Json",
            FileFormat::Parquet(_) => "Parquet",
            FileFormat::Binary => "Binary",
        }
    }

    /// The extension of generated file names when `fileExtension` is not set (ADF's
    /// generated names end in `.txt` for delimited text).
    fn default_extension(&self) -> &'static str {
        match self {
            FileFormat::DelimitedText(_) => ".txt",
            FileFormat::Json(_) => ".json",
            FileFormat::Parquet(_) => ".parquet",
            FileFormat::Binary => "",
        }
    }
}

/// A file dataset: where, how laid out, how compressed.
#[derive(Debug, Clone)]
pub struct FileDataset {
    pub location: FileLocation,
    /// Where `location` is defined (`dataset 'D' typeProperties.location`): problems the
    /// location causes (for a sink, say) are reported against it.
    pub location_at: String,
    pub format: FileFormat,
    pub compression: Compression,
}

impl FileDataset {
    /// Reads a `ty` dataset's `typeProperties` on linked service `linked` (named `ls_name`).
    pub fn from_props(
        ty: &str,
        tp: &Props<'_>,
        linked: &LinkedService,
        ls_name: &str,
    ) -> Result<FileDataset, ModelError> {
        let location = FileLocation::from_props(tp, linked, ls_name)?;
        let location_at = format!("{}.location", tp.path);
        let (format, compression) = match ty {
            "DelimitedText" => (
                FileFormat::DelimitedText(CsvFormat::from_props(tp)?),
                Compression::from_codec(tp)?,
            ),
            "Json" => (
                FileFormat::Json(JsonSettings::from_dataset(tp)?),
                Compression::from_object(tp)?,
            ),
            "Parquet" => (
                FileFormat::Parquet(ParquetSettings::from_dataset(tp)?),
                Compression::None,
            ),
            "Binary" => (FileFormat::Binary, Compression::from_object(tp)?),
            other => {
                return Err(tp.err(
                    "",
                    format!(
                        "{other:?} is not a file dataset type ({})",
                        FILE_DATASET_TYPES.join(", ")
                    ),
                ))
            }
        };
        Ok(FileDataset {
            location,
            location_at,
            format,
            compression,
        })
    }

    /// The copy source type that reads this dataset.
    pub fn source_type(&self) -> String {
        format!("{}Source", self.format.type_label())
    }

    /// The copy sink type that writes this dataset.
    pub fn sink_type(&self) -> String {
        format!("{}Sink", self.format.type_label())
    }
}

/// A column a file source adds to every row (`additionalColumns`).
#[derive(Debug, Clone, PartialEq)]
pub struct AdditionalColumn {
    pub name: String,
    pub value: AdditionalValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AdditionalValue {
    /// `$$FILEPATH`: the file's path relative to the dataset's folder.
    FilePath,
    /// `$$COLUMN:<name>`: a copy of another column.
    Column(String),
    /// Any other value, as text.
    Constant(String),
}

/// What a file source reads: the dataset plus the source's settings.
#[derive(Debug, Clone)]
pub struct FileRead {
    pub dataset: FileDataset,
    pub selection: Selection,
    pub additional_columns: Vec<AdditionalColumn>,
}

impl FileRead {
    /// Reads a `DelimitedTextSource` / `JsonSource` / `ParquetSource` (`p`) of `dataset`
    /// (named `name`).
    pub fn from_props(
        mut dataset: FileDataset,
        p: &Props<'_>,
        name: &str,
    ) -> Result<FileRead, ModelError> {
        check_type(p, &dataset.source_type(), &dataset, name)?;
        let selection = Selection::from_props(
            p.object("storeSettings")?.as_ref(),
            dataset.location.path_kind(),
        )?;
        if let Some(fs) = p.object("formatSettings")? {
            fs.accept("type");
            match &mut dataset.format {
                FileFormat::Json(s) => s.apply_format_settings(&fs, false)?,
                FileFormat::DelimitedText(_) => {
                    // Archives inside files are not supported; plain compression is the
                    // dataset's `compressionCodec`.
                    if fs.get("compressionProperties").is_some() {
                        return Err(fs.err(
                            "compressionProperties",
                            "ZIP and TAR archives are not supported; use compressionCodec gzip on the dataset",
                        ));
                    }
                }
                FileFormat::Parquet(_) | FileFormat::Binary => {}
            }
        }
        let mut additional_columns = Vec::new();
        for (i, item) in p
            .array("additionalColumns")?
            .into_iter()
            .flatten()
            .enumerate()
        {
            let c = Props::of(format!("{}.additionalColumns[{i}]", p.path), item)?;
            let name = c.req_str("name")?.to_string();
            let value = match c.get("value") {
                Some(Json::String(s)) if s == "$$FILEPATH" => AdditionalValue::FilePath,
                Some(Json::String(s)) if s.starts_with("$$COLUMN:") => {
                    AdditionalValue::Column(s.trim_start_matches("$$COLUMN:").to_string())
                }
                Some(Json::String(s)) => AdditionalValue::Constant(s.clone()),
                Some(Json::Null) | None => return Err(c.err("value", "is required")),
                Some(other) => AdditionalValue::Constant(other.to_string()),
            };
            additional_columns.push(AdditionalColumn { name, value });
        }
        Ok(FileRead {
            dataset,
            selection,
            additional_columns,
        })
    }
}

/// What a file sink writes: the dataset plus the sink's settings.
#[derive(Debug, Clone)]
pub struct FileWrite {
    pub dataset: FileDataset,
    /// `formatSettings.maxRowsPerFile`: split into `<prefix>_00000<ext>`, ... files.
    pub max_rows_per_file: Option<u64>,
    /// `formatSettings.fileNamePrefix`.
    pub file_name_prefix: Option<String>,
    /// `formatSettings.fileExtension` (DelimitedText).
    pub file_extension: Option<String>,
    /// `formatSettings.quoteAllText` (DelimitedText): every string value is quoted, not only
    /// those that need it.
    pub quote_all_text: bool,
    /// The stem of a generated file name when the copy reads a whole table (its name, as ADF
    /// names the file `[table name].[format]`); `None` generates `Data.<GUID>`.
    pub table_stem: Option<String>,
}

impl FileWrite {
    /// Reads a `DelimitedTextSink` / `JsonSink` / `ParquetSink` (`p`) of `dataset`.
    pub fn from_props(
        mut dataset: FileDataset,
        p: &Props<'_>,
        name: &str,
    ) -> Result<FileWrite, ModelError> {
        check_type(p, &dataset.sink_type(), &dataset, name)?;
        if let Some(s) = p.object("storeSettings")? {
            for k in [
                "type",
                "copyBehavior",
                "maxConcurrentConnections",
                "blockSizeInMB",
            ] {
                s.accept(k);
            }
        }
        let mut w = FileWrite {
            dataset: dataset.clone(),
            max_rows_per_file: None,
            file_name_prefix: None,
            file_extension: None,
            quote_all_text: false,
            table_stem: None,
        };
        if let Some(fs) = p.object("formatSettings")? {
            fs.accept("type");
            if let FileFormat::Json(s) = &mut dataset.format {
                s.apply_format_settings(&fs, true)?;
            }
            w.max_rows_per_file = fs.int_in("maxRowsPerFile", 1, i64::MAX)?.map(|n| n as u64);
            if let FileFormat::DelimitedText(f) = &dataset.format {
                w.quote_all_text = fs.bool("quoteAllText")?.unwrap_or(false);
                if w.quote_all_text && f.quote.is_none() {
                    return Err(fs.err(
                        "quoteAllText",
                        format!("cannot quote values: dataset '{name}' sets an empty quoteChar"),
                    ));
                }
            }
            w.file_name_prefix = fs
                .str("fileNamePrefix")?
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string);
            if let Some(prefix) = &w.file_name_prefix {
                confine::file_name(&fs, "fileNamePrefix", prefix)?;
            }
            if let Some(ext) = fs.str("fileExtension")? {
                confine::file_name(&fs, "fileExtension", ext.trim())?;
            }
            w.file_extension = fs
                .str("fileExtension")?
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|e| {
                    if e.starts_with('.') {
                        e.to_string()
                    } else {
                        format!(".{e}")
                    }
                });
        }
        w.dataset = dataset;
        if let Some(f) = &w.dataset.location.file_name {
            if f.contains(['*', '?']) {
                return Err(ModelError::invalid(
                    &w.dataset.location_at,
                    "fileName",
                    format!("{f:?} has wildcards, but a sink writes files of one name; name the file, or leave fileName out to have names generated"),
                ));
            }
        }
        Ok(w)
    }

    /// The name of output file `part` (0-based). `generated` is the stem of a name the sink
    /// generates for a dataset without `fileName` (`Data.<guid>`, or the source table's name).
    ///
    /// - `fileName` without `maxRowsPerFile`: that name.
    /// - `maxRowsPerFile`, or no `fileName` but a `fileNamePrefix`: `<prefix>_<n:05><ext>`,
    ///   ADF's `<fileNamePrefix>_<fileIndex>.<fileExtension>`; the prefix defaults to
    ///   `fileName` without its extension, else `generated`.
    /// - neither `fileName` nor `fileNamePrefix` nor `maxRowsPerFile`: `<generated><ext>`, as
    ///   ADF names a sink file it is not given a name for (`Data.<GUID>.txt`, or
    ///   `<table>.txt` from a whole table; see the legacy `fileName` row of ADF's Azure Blob and
    ///   file system connector pages).
    ///
    /// `<ext>` is `fileExtension`, else `fileName`'s extension, else the format's (`.txt`,
    /// `.json`, `.parquet`), plus the compression's (`.gz`, `.deflate`).
    pub fn file_name(&self, part: usize, generated: &str) -> String {
        let file_name = self.dataset.location.file_name.as_deref();
        let numbered = self.max_rows_per_file.is_some()
            || (file_name.is_none() && self.file_name_prefix.is_some());
        if let (false, Some(f)) = (numbered, file_name) {
            return f.to_string();
        }
        let (stem, ext) = match file_name.and_then(|f| f.split_once('.')) {
            Some((s, e)) => (s.to_string(), format!(".{e}")),
            None => (file_name.unwrap_or(generated).to_string(), String::new()),
        };
        let ext = match (&self.file_extension, ext.is_empty()) {
            (Some(e), _) => format!("{e}{}", self.dataset.compression.extension()),
            (None, false) => ext,
            (None, true) => format!(
                "{}{}",
                self.dataset.format.default_extension(),
                self.dataset.compression.extension()
            ),
        };
        if !numbered {
            return format!("{stem}{ext}");
        }
        let prefix = self.file_name_prefix.clone().unwrap_or(stem);
        format!("{prefix}_{part:05}{ext}")
    }
}

fn check_type(
    p: &Props<'_>,
    expected: &str,
    dataset: &FileDataset,
    name: &str,
) -> Result<(), ModelError> {
    if let FileFormat::Binary = dataset.format {
        return Err(p.err(
            "type",
            format!("dataset '{name}' is a Binary dataset, which Copy does not read or write yet (GetMetadata and Delete take it); use DelimitedText, Json or Parquet"),
        ));
    }
    let ty = p.req_str("type")?;
    if ty != expected {
        return Err(p.err(
            "type",
            format!(
                "{ty:?} cannot be used with dataset '{name}' ({}); use {expected}",
                dataset.format.type_label()
            ),
        ));
    }
    Ok(())
}
