//! Reading a factory from disk: a folder laid out as ADF's git integration writes it
//! (`linkedService/`, `dataset/`, `pipeline/`, one JSON file per object) or a single JSON file
//! holding one object or an array of objects.
//!
//! The other parts of a git-integration folder are sorted here too: the factory object
//! (`factory/<name>.json`) gives the global parameters; triggers (`trigger/`) are kept for
//! `validate` and the service (a run ignores them); folders and root files Sluice has no use
//! for (`dataflow/`, `integrationRuntime/`, `publish_config.json`, ...) are passed over with
//! one notice listing them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::error::ModelError;
use super::globals;

/// Folders of ADF's git integration that hold nothing Sluice runs.
const SKIPPED_FOLDERS: [&str; 4] = [
    "dataflow",
    "integrationRuntime",
    "managedVirtualNetwork",
    "credential",
];

/// Root files ADF's git integration writes for its own publishing (settings, not definitions):
/// skipped without a notice, as they change nothing about what a pipeline does.
const SKIPPED_ROOT_FILES: [&str; 2] = [
    "publish_config.json",
    "arm-template-parameters-definition.json",
];

/// The three kinds of definitions Sluice reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    LinkedService,
    Dataset,
    Pipeline,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::LinkedService => "linked service",
            Kind::Dataset => "dataset",
            Kind::Pipeline => "pipeline",
        }
    }
}

/// One named definition and where it came from.
#[derive(Debug, Clone)]
pub struct Definition {
    pub name: String,
    pub file: PathBuf,
    /// The object's `properties`.
    pub properties: Value,
    /// In the service: the folder a `FileServer`'s `host` resolves under (the tenant's files
    /// root), so a definition cannot reach the operator's other files. `None` on the command
    /// line, where the machine is the user's own.
    pub files_root: Option<PathBuf>,
}

/// Every definition of a factory, by kind and name.
#[derive(Debug, Default, Clone)]
pub struct Factory {
    /// The folder holding the factory (the file's folder for a single file).
    pub root: PathBuf,
    pub linked_services: BTreeMap<String, Definition>,
    pub datasets: BTreeMap<String, Definition>,
    pub pipelines: BTreeMap<String, Definition>,
    /// Trigger definitions (`trigger/*.json`) by name, as written: `properties` holds the
    /// trigger's `properties`. Parsed ([`crate::model::trigger::Trigger`]) by `validate` and the
    /// service, not by a run, so a trigger Sluice cannot fire never stops a pipeline running.
    pub triggers: BTreeMap<String, Definition>,
    /// Notices about files that were passed over (data flows, integration runtimes, ...).
    pub notices: Vec<String>,
    /// `pipeline().globalParameters`: the factory object's global parameters, typed as
    /// declared (`factory/<name>.json` in a git-integration folder).
    pub global_parameters: Map<String, Value>,
    /// PostgreSQL linked services replaced by a server given on the command line
    /// (`--connection NAME=URL`, and `sluice demo`), so one factory runs anywhere.
    pub pg_overrides: BTreeMap<String, crate::model::pg_endpoint::PgEndpoint>,
    /// In the service: the tenant's files root, given to every definition added with
    /// [`Factory::insert_definition`] (see [`Definition::files_root`]).
    pub files_root: Option<PathBuf>,
}

impl Factory {
    pub fn map(&self, kind: Kind) -> &BTreeMap<String, Definition> {
        match kind {
            Kind::LinkedService => &self.linked_services,
            Kind::Dataset => &self.datasets,
            Kind::Pipeline => &self.pipelines,
        }
    }

    fn map_mut(&mut self, kind: Kind) -> &mut BTreeMap<String, Definition> {
        match kind {
            Kind::LinkedService => &mut self.linked_services,
            Kind::Dataset => &mut self.datasets,
            Kind::Pipeline => &mut self.pipelines,
        }
    }

    /// Looks a definition up; a dangling reference names both objects.
    pub fn get(&self, kind: Kind, name: &str, from: &str) -> Result<&Definition, ModelError> {
        self.map(kind)
            .get(name)
            .ok_or_else(|| ModelError::Dangling {
                from: from.to_string(),
                kind: kind.label(),
                name: name.to_string(),
                known: self.map(kind).keys().cloned().collect(),
            })
    }

    /// Adds (or replaces) one definition held in memory rather than read from a file, as the
    /// service builds a factory from its control database; `origin` names where it came from in
    /// messages (the service uses the ARM path of the object).
    pub fn insert_definition(
        &mut self,
        kind: Kind,
        name: &str,
        properties: Value,
        origin: impl Into<PathBuf>,
    ) {
        let files_root = self.files_root.clone();
        self.map_mut(kind).insert(
            name.to_string(),
            Definition {
                name: name.to_string(),
                file: origin.into(),
                properties,
                files_root,
            },
        );
    }

    /// Loads a factory folder or a single JSON file.
    pub fn load(path: &Path) -> Result<Factory, ModelError> {
        let meta = std::fs::metadata(path).map_err(|error| ModelError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        let mut factory = Factory::default();
        if meta.is_dir() {
            factory.root = path.to_path_buf();
            factory.load_folder(path)?;
        } else {
            factory.root = path.parent().map(Path::to_path_buf).unwrap_or_default();
            factory.load_file(path, None)?;
        }
        Ok(factory)
    }

    fn load_folder(&mut self, dir: &Path) -> Result<(), ModelError> {
        for (folder, kind) in [
            ("linkedService", Kind::LinkedService),
            ("dataset", Kind::Dataset),
            ("pipeline", Kind::Pipeline),
        ] {
            let sub = dir.join(folder);
            if sub.is_dir() {
                for file in json_files(&sub)? {
                    self.load_file(&file, Some(kind))?;
                }
            }
        }
        let trigger_dir = dir.join("trigger");
        if trigger_dir.is_dir() {
            for file in json_files(&trigger_dir)? {
                self.load_trigger_file(&file)?;
            }
        }
        let factory_dir = dir.join("factory");
        if factory_dir.is_dir() {
            for file in json_files(&factory_dir)? {
                self.load_factory_object(&file)?;
            }
        }
        let mut passed_over = Vec::new();
        for folder in SKIPPED_FOLDERS {
            if dir.join(folder).is_dir() {
                passed_over.push(format!("{folder}/"));
            }
        }
        for file in json_files(dir)? {
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if SKIPPED_ROOT_FILES
                .iter()
                .any(|s| s.eq_ignore_ascii_case(name))
            {
                continue;
            }
            self.load_file(&file, None)?;
        }
        if !passed_over.is_empty() {
            self.notices.push(format!(
                "{}: passed over (ADF git-integration parts Sluice does not run): {}",
                dir.display(),
                passed_over.join(", ")
            ));
        }
        if self.linked_services.is_empty() && self.datasets.is_empty() && self.pipelines.is_empty()
        {
            return Err(ModelError::Other(format!(
                "{}: no definitions found (expected linkedService/, dataset/ and pipeline/ folders of JSON files, or JSON files here)",
                dir.display()
            )));
        }
        Ok(())
    }

    /// A factory from the text of one single JSON file named `file` (not read: `text` is its
    /// content), classified as [`Factory::load`] classifies a single file. Pure, so the fuzz
    /// target and tests can drive the loader without touching the disk.
    pub fn from_json_text(file: &Path, text: &str) -> Result<Factory, ModelError> {
        let mut factory = Factory {
            root: file.parent().map(Path::to_path_buf).unwrap_or_default(),
            ..Factory::default()
        };
        factory.add_text(file, text, None)?;
        Ok(factory)
    }

    /// Reads a factory object (`factory/<name>.json`): its global parameters.
    fn load_factory_object(&mut self, file: &Path) -> Result<(), ModelError> {
        let text = std::fs::read_to_string(file).map_err(|error| ModelError::Io {
            path: file.to_path_buf(),
            error,
        })?;
        let value = parse_json(file, &text)?;
        let props = value.get("properties").cloned().unwrap_or(Value::Null);
        self.add_globals(&file.display().to_string(), &props)
    }

    /// Adds the global parameters of a factory object's `properties`; two factory objects
    /// declaring the same one is an error.
    fn add_globals(&mut self, at: &str, properties: &Value) -> Result<(), ModelError> {
        for (name, value) in globals::parse(at, properties)? {
            if self.global_parameters.insert(name.clone(), value).is_some() {
                return Err(ModelError::invalid(
                    at,
                    &format!("properties.globalParameters.{name}"),
                    "is declared twice (by two factory objects)",
                ));
            }
        }
        Ok(())
    }

    /// Reads one `trigger/*.json` file (one trigger, or an array of them). Only the JSON
    /// syntax and the names are checked here; `validate` checks the rest.
    fn load_trigger_file(&mut self, file: &Path) -> Result<(), ModelError> {
        let text = std::fs::read_to_string(file).map_err(|error| ModelError::Io {
            path: file.to_path_buf(),
            error,
        })?;
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let objects = match parse_json(file, &text)? {
            Value::Array(items) => items,
            other => vec![other],
        };
        for obj in objects {
            let name = obj
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(&stem)
                .to_string();
            self.add_trigger(file, &name, &obj)?;
        }
        Ok(())
    }

    /// Keeps a trigger definition (`obj` is the whole `{"name", "properties"}` object); two
    /// triggers of one name are an error.
    fn add_trigger(&mut self, file: &Path, name: &str, obj: &Value) -> Result<(), ModelError> {
        let def = Definition {
            files_root: None,
            name: name.to_string(),
            file: file.to_path_buf(),
            properties: obj.get("properties").cloned().unwrap_or(Value::Null),
        };
        if let Some(prev) = self.triggers.insert(name.to_string(), def) {
            return Err(ModelError::Other(format!(
                "{}: trigger '{name}' is defined twice (also in {})",
                file.display(),
                prev.file.display()
            )));
        }
        Ok(())
    }

    fn load_file(&mut self, file: &Path, kind: Option<Kind>) -> Result<(), ModelError> {
        let text = std::fs::read_to_string(file).map_err(|error| ModelError::Io {
            path: file.to_path_buf(),
            error,
        })?;
        self.add_text(file, &text, kind)
    }

    /// Adds the definitions in one file's text (`kind` when the folder says it).
    fn add_text(&mut self, file: &Path, text: &str, kind: Option<Kind>) -> Result<(), ModelError> {
        let value = parse_json(file, text)?;
        let objects = match value {
            Value::Array(items) => items,
            other => vec![other],
        };
        for (i, obj) in objects.into_iter().enumerate() {
            let at = if i == 0 {
                file.display().to_string()
            } else {
                format!("{} (object {})", file.display(), i + 1)
            };
            let name = obj
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    let reason = "every definition needs a string `name`";
                    ModelError::invalid(&at, "name", misspelt(&obj, "name", reason))
                })?
                .to_string();
            let properties = obj.get("properties").cloned().ok_or_else(|| {
                let reason = misspelt(&obj, "properties", "is required");
                ModelError::invalid(&format!("{at} '{name}'"), "properties", reason)
            })?;
            let arm_type = obj.get("type").and_then(Value::as_str).unwrap_or("");
            if kind.is_none() && globals::is_factory_type(arm_type) {
                self.add_globals(&format!("{at} '{name}'"), &properties)?;
                continue;
            }
            if kind.is_none() && arm_type.to_ascii_lowercase().ends_with("/triggers") {
                self.add_trigger(file, &name, &obj)?;
                continue;
            }
            let kind = match kind.or_else(|| classify(&obj, &properties)) {
                Some(k) => k,
                None => {
                    self.notices.push(format!(
                        "{at}: '{name}' is not a linked service, dataset or pipeline; passed over"
                    ));
                    continue;
                }
            };
            let def = Definition {
                files_root: None,
                name: name.clone(),
                file: file.to_path_buf(),
                properties,
            };
            if let Some(prev) = self.map_mut(kind).insert(name.clone(), def) {
                return Err(ModelError::Other(format!(
                    "{}: {} '{name}' is defined twice (also in {})",
                    file.display(),
                    kind.label(),
                    prev.file.display()
                )));
            }
        }
        Ok(())
    }
}

/// One file's JSON; a syntax error names the file, line and column.
fn parse_json(file: &Path, text: &str) -> Result<Value, ModelError> {
    // ADF's exports and editors on Windows may start a file with a UTF-8 byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    serde_json::from_str(text).map_err(|e| ModelError::Json {
        path: file.to_path_buf(),
        line: e.line(),
        column: e.column(),
        reason: strip_position(&e.to_string()),
    })
}

/// Tells a definition's kind from its shape (single files mix kinds) or its ARM resource type.
fn classify(obj: &Value, props: &Value) -> Option<Kind> {
    if let Some(t) = obj.get("type").and_then(Value::as_str) {
        let t = t.to_ascii_lowercase();
        if t.ends_with("/linkedservices") {
            return Some(Kind::LinkedService);
        } else if t.ends_with("/datasets") {
            return Some(Kind::Dataset);
        } else if t.ends_with("/pipelines") {
            return Some(Kind::Pipeline);
        }
    }
    if props.get("activities").is_some() {
        Some(Kind::Pipeline)
    } else if props.get("linkedServiceName").is_some() {
        Some(Kind::Dataset)
    } else if props.get("typeProperties").is_some() || props.get("type").is_some() {
        Some(Kind::LinkedService)
    } else {
        None
    }
}

fn json_files(dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
    let entries = std::fs::read_dir(dir).map_err(|error| ModelError::Io {
        path: dir.to_path_buf(),
        error,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// serde_json appends " at line L column C"; the error already carries both.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Writes one definition as ADF's git integration lays it out: `<dir>/<kind>/<name>.json`
/// holding `{"name": name, "properties": properties}` (`kind` is `linkedService`, `dataset` or
/// `pipeline`). Benchmarks and tests build factories with it.
pub fn write_definition(
    dir: &Path,
    kind: &str,
    name: &str,
    properties: &serde_json::Value,
) -> std::io::Result<()> {
    let folder = dir.join(kind);
    std::fs::create_dir_all(&folder)?;
    let body = serde_json::json!({"name": name, "properties": properties});
    let text = serde_json::to_string_pretty(&body).map_err(std::io::Error::other)?;
    std::fs::write(folder.join(format!("{name}.json")), text)
}

/// `reason` for a missing top-level `property`, naming a key of `obj` that looks like a typo of
/// it (`nmae` for `name`), so the message points at the line to fix.
fn misspelt(obj: &Value, property: &str, reason: &str) -> String {
    let typo = obj
        .as_object()
        .and_then(|o| o.keys().find(|k| super::warnings::is_typo(k, property)));
    match typo {
        Some(k) => format!("{reason}; unknown property '{k}' (did you mean '{property}'?)"),
        None => reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_top_level_name_or_properties_is_named() {
        let file = Path::new("pipeline/P.json");
        let e = Factory::from_json_text(file, r#"{"nmae":"P","properties":{"activities":[]}}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("unknown property 'nmae' (did you mean 'name'?)"),
            "{e}"
        );
        let e = Factory::from_json_text(file, r#"{"name":"P","propreties":{"activities":[]}}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("unknown property 'propreties' (did you mean 'properties'?)"),
            "{e}"
        );
    }

    #[test]
    fn malformed_json_names_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pipeline")).unwrap();
        std::fs::write(
            dir.path().join("pipeline/p.json"),
            "{\n  \"name\": \"p\",\n  \"properties\": { \"activities\": [ }\n}",
        )
        .unwrap();
        let err = Factory::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("p.json:3:"), "{err}");
        assert!(err.contains("malformed JSON"), "{err}");
    }

    #[test]
    fn single_file_with_an_array_is_classified() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("all.json");
        std::fs::write(
            &f,
            r#"[{"name":"ls","properties":{"type":"AzurePostgreSql","typeProperties":{}}},
                {"name":"ds","properties":{"type":"AzurePostgreSqlTable","linkedServiceName":{"referenceName":"ls"}}},
                {"name":"p","properties":{"activities":[]}}]"#,
        )
        .unwrap();
        let fac = Factory::load(&f).unwrap();
        assert!(fac.linked_services.contains_key("ls"));
        assert!(fac.datasets.contains_key("ds"));
        assert!(fac.pipelines.contains_key("p"));
        let err = fac
            .get(Kind::Dataset, "nope", "pipeline 'p' activity 'a'")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "pipeline 'p' activity 'a' references dataset 'nope', which is not defined (defined: ds)");
    }

    /// An ARM export holds the factory object beside the definitions: its global parameters
    /// are read, typed as declared.
    #[test]
    fn a_factory_object_gives_the_global_parameters() {
        let fac = Factory::from_json_text(
            Path::new("arm.json"),
            r#"[{"name":"f","type":"Microsoft.DataFactory/factories","properties":{"globalParameters":{"n":{"type":"Int","value":"3"},"s":{"type":"String","value":"x"}}}},
                {"name":"p","properties":{"activities":[]}}]"#,
        )
        .unwrap();
        assert_eq!(
            Value::Object(fac.global_parameters.clone()),
            serde_json::json!({"n": 3, "s": "x"})
        );
        assert!(fac.pipelines.contains_key("p") && fac.notices.is_empty());
    }
}
