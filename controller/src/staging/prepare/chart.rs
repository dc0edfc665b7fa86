//! A chart in memory: its files and the parts of `Chart.yaml` staging reads or changes.
//!
//! `Chart.yaml` is kept as a YAML mapping so that fields staging does not know survive
//! unchanged; only `name`, `version`, `type`, `dependencies` and `annotations` are interpreted.
//! A chart with a `requirements.yaml` (apiVersion v1, Helm 2's layout) has its dependencies
//! there: Helm's loader lets that file's `dependencies` replace Chart.yaml's, so staging reads
//! and changes them there too.

use serde_norway::{Mapping, Value};

use crate::staging::error::StagingError;
use crate::staging::limits::Limits;
use crate::staging::prepare::archive::{ChartFiles, subtree, unpack, unpack_within};

/// A loaded chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// `name` from Chart.yaml.
    pub name: String,
    /// `version` from Chart.yaml.
    pub version: String,
    /// Chart.yaml as a mapping.
    pub metadata: Mapping,
    /// `requirements.yaml` as a mapping, when it lists the dependencies (see the module docs).
    requirements: Option<Mapping>,
    /// Every file, Chart.yaml included, by path relative to the chart root.
    pub files: ChartFiles,
}

/// A chart bundled in a parent's `charts/` directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundled {
    /// The subchart itself.
    pub chart: Chart,
    /// Where it lives in the parent: "charts/<dir>" (a directory) or "charts/<file>.tgz".
    pub location: String,
}

impl Chart {
    /// Builds a chart from its files, checking Chart.yaml. `label` names it in errors.
    pub fn from_files(label: &str, files: ChartFiles) -> Result<Self, StagingError> {
        let bad = |reason: String| StagingError::invalid_chart(label, reason);
        let raw = files
            .get("Chart.yaml")
            .ok_or_else(|| bad("Chart.yaml is missing".to_owned()))?;
        let metadata: Mapping = serde_norway::from_slice(raw)
            .map_err(|err| bad(format!("Chart.yaml is not a YAML mapping: {err}")))?;
        let text = |key: &str| match metadata.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let name = text("name").ok_or_else(|| bad("Chart.yaml has no name".to_owned()))?;
        let version =
            text("version").ok_or_else(|| bad(format!("Chart.yaml of {name} has no version")))?;
        let requirements = match files.get("requirements.yaml") {
            None => None,
            Some(raw) => {
                let mapping: Mapping = serde_norway::from_slice(raw).map_err(|err| {
                    bad(format!("requirements.yaml is not a YAML mapping: {err}"))
                })?;
                mapping.contains_key("dependencies").then_some(mapping)
            }
        };
        Ok(Self {
            name,
            version,
            metadata,
            requirements,
            files,
        })
    }

    /// The mapping whose `dependencies` Helm reads: requirements.yaml's, else Chart.yaml.
    fn dependency_source(&self) -> &Mapping {
        self.requirements.as_ref().unwrap_or(&self.metadata)
    }

    /// The dependency entries Helm reads (see [`Self::dependency_source`]).
    fn dependency_entries(&self) -> &[Value] {
        match self.dependency_source().get("dependencies") {
            Some(Value::Sequence(deps)) => deps.as_slice(),
            _ => &[],
        }
    }

    /// Unpacks and loads a chart archive.
    pub fn from_tgz(label: &str, tgz: &[u8], limits: &Limits) -> Result<Self, StagingError> {
        Self::from_files(label, unpack(label, tgz, limits)?)
    }

    /// True for `type: library` charts, which render nothing and cannot be released.
    pub fn is_library(&self) -> bool {
        matches!(self.metadata.get("type"), Some(Value::String(t)) if t == "library")
    }

    /// Refuses library charts with a message saying why.
    pub fn ensure_application(&self) -> Result<(), StagingError> {
        if self.is_library() {
            return Err(StagingError::invalid_chart(
                &self.name,
                "it is a library chart (type: library): library charts render nothing and cannot be released",
            ));
        }
        Ok(())
    }

    /// The charts bundled under `charts/`, as directories or `.tgz` files.
    /// The archives share the chart's decompressed limit with its own files.
    pub fn bundled(&self, limits: &Limits) -> Result<Vec<Bundled>, StagingError> {
        let mut dirs: Vec<String> = Vec::new();
        let mut out = Vec::new();
        let mut used: u64 = self.files.values().map(|data| data.len() as u64).sum();
        for path in self.files.keys() {
            let Some(rest) = path.strip_prefix("charts/") else {
                continue;
            };
            match rest.split_once('/') {
                Some((dir, _)) if dirs.last().map(String::as_str) != Some(dir) => {
                    dirs.push(dir.to_owned())
                }
                Some(_) => {}
                None if rest.ends_with(".tgz") => {
                    let label = format!("{}/{path}", self.name);
                    let files = unpack_within(&label, &self.files[path], limits, used)?;
                    used += files.values().map(|data| data.len() as u64).sum::<u64>();
                    let chart = Self::from_files(&label, files)?;
                    out.push(Bundled {
                        chart,
                        location: path.clone(),
                    });
                }
                None => {}
            }
        }
        for dir in dirs {
            let location = format!("charts/{dir}");
            let label = format!("{}/{location}", self.name);
            let chart = Self::from_files(&label, subtree(&self.files, &location))?;
            out.push(Bundled { chart, location });
        }
        Ok(out)
    }

    /// Lets `edit` change the `dependencies` entries Helm reads (Chart.yaml's, created when
    /// absent, or requirements.yaml's).
    pub fn edit_dependencies<R>(&mut self, edit: impl FnOnce(&mut Vec<Value>) -> R) -> R {
        let mut deps = self.dependency_entries().to_vec();
        let out = edit(&mut deps);
        let source = match self.requirements.as_mut() {
            Some(requirements) => requirements,
            None => &mut self.metadata,
        };
        // Inserting over an existing key keeps its position in the mapping.
        source.insert(Value::String("dependencies".into()), Value::Sequence(deps));
        out
    }

    /// The key a bundled chart's values live under in this chart: the dependency's alias when
    /// Chart.yaml gives one, else the chart name.
    pub fn values_key(&self, subchart: &str) -> String {
        self.dependency_entries()
            .iter()
            .filter(|d| d.get("name").and_then(Value::as_str) == Some(subchart))
            .find_map(|d| d.get("alias").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| subchart.to_owned())
    }

    /// The Chart.yaml dependency entry of bundled chart `subchart` under values key `key`.
    pub fn dependency(&self, subchart: &str, key: &str) -> Option<&Value> {
        self.dependency_entries()
            .iter()
            .find(|d| is_entry(d, subchart, key))
    }

    /// Every key a bundled chart's values live under in this chart: one per Chart.yaml
    /// dependency entry of that chart (its alias, else the chart name; one chart may be a
    /// dependency several times under different aliases), or the chart name when none lists it.
    pub fn values_keys(&self, subchart: &str) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for dep in self
            .dependency_entries()
            .iter()
            .filter(|d| d.get("name").and_then(Value::as_str) == Some(subchart))
        {
            let key = dep
                .get("alias")
                .and_then(Value::as_str)
                .unwrap_or(subchart)
                .to_owned();
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        if keys.is_empty() {
            keys.push(subchart.to_owned());
        }
        keys
    }

    /// Sets a string annotation in Chart.yaml.
    pub fn annotate(&mut self, key: &str, value: &str) {
        let annotations = self
            .metadata
            .entry(Value::String("annotations".into()))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if !annotations.is_mapping() {
            *annotations = Value::Mapping(Mapping::new());
        }
        if let Value::Mapping(map) = annotations {
            map.insert(Value::String(key.into()), Value::String(value.into()));
        }
    }

    /// Renames the chart (Chart.yaml `name`).
    pub fn rename(&mut self, name: &str) {
        self.metadata
            .insert(Value::String("name".into()), Value::String(name.into()));
        self.name = name.to_owned();
    }

    /// Writes the (possibly changed) metadata back into `Chart.yaml`, and the dependencies into
    /// `requirements.yaml` when they live there.
    pub fn sync_metadata(&mut self) -> Result<(), StagingError> {
        let documents = [
            ("Chart.yaml", Some(&self.metadata)),
            ("requirements.yaml", self.requirements.as_ref()),
        ];
        for (file, mapping) in documents {
            let Some(mapping) = mapping else { continue };
            let text = serde_norway::to_string(mapping).map_err(|err| {
                StagingError::invalid_chart(&self.name, format!("cannot write {file}: {err}"))
            })?;
            self.files.insert(file.into(), text.into_bytes());
        }
        Ok(())
    }

    /// The chart's default values (`values.yaml`), as JSON; an absent or empty file is `{}`.
    /// Merge keys (`<<: *defaults`) are applied, as Helm's YAML reader applies them.
    pub fn values(&self) -> Result<serde_json::Value, StagingError> {
        let Some(raw) = self.files.get("values.yaml") else {
            return Ok(serde_json::Value::Object(Default::default()));
        };
        let invalid = |err: serde_norway::Error| {
            StagingError::invalid_chart(&self.name, format!("values.yaml is not valid YAML: {err}"))
        };
        let mut yaml: Value = serde_norway::from_slice(raw).map_err(invalid)?;
        yaml.apply_merge().map_err(invalid)?;
        let value: serde_json::Value = serde_norway::from_value(yaml).map_err(invalid)?;
        Ok(match value {
            serde_json::Value::Null => serde_json::Value::Object(Default::default()),
            other => other,
        })
    }

    /// Replaces `values.yaml`.
    pub fn set_values(&mut self, values: &serde_json::Value) -> Result<(), StagingError> {
        let text = serde_norway::to_string(values).map_err(|err| {
            StagingError::invalid_chart(&self.name, format!("cannot write values.yaml: {err}"))
        })?;
        self.files.insert("values.yaml".into(), text.into_bytes());
        Ok(())
    }
}

/// True when `dependency` (a Chart.yaml `dependencies` entry) is bundled chart `subchart` under
/// values key `key` (its alias, or the chart name when it has none).
pub fn is_entry(dependency: &Value, subchart: &str, key: &str) -> bool {
    let name = dependency.get("name").and_then(Value::as_str);
    let alias = dependency.get("alias").and_then(Value::as_str);
    name == Some(subchart) && alias.unwrap_or(subchart) == key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::staging::prepare::package::package;

    /// A chart named `name` with a file of `size` bytes.
    fn files(name: &str, size: usize) -> ChartFiles {
        ChartFiles::from([
            (
                "Chart.yaml".to_owned(),
                format!("apiVersion: v2\nname: {name}\nversion: 1.0.0\n").into_bytes(),
            ),
            ("data.txt".to_owned(), vec![b'x'; size]),
        ])
    }

    /// `values.yaml` read as Helm's YAML reader reads it: a merge key takes in its anchor's
    /// entries, the section's own entries win, and no `<<` key is left. (Before, `<<` stayed a
    /// key: a split subchart got its own defaults instead of the parent's anchored values.)
    #[test]
    fn merge_keys_in_values_are_applied() {
        let mut chart = Chart::from_files("shop", files("shop", 0)).unwrap();
        chart.files.insert(
            "values.yaml".into(),
            b"defaults: &d\n  message: from-anchor\n  replicas: 1\nweb:\n  <<: *d\n  replicas: 2\n"
                .to_vec(),
        );
        let values = chart.values().unwrap();
        assert_eq!(
            values["web"],
            serde_json::json!({"message": "from-anchor", "replicas": 2})
        );
    }

    #[test]
    fn bundled_archives_share_the_charts_decompressed_limit() {
        let limits = Limits {
            max_decompressed_bytes: 10_000,
            ..Limits::default()
        };
        let mut parent = files("p", 100);
        for sub in ["a", "b", "c"] {
            let archive = package(sub, &files(sub, 4_000)).unwrap().bytes;
            parent.insert(format!("charts/{sub}-1.0.0.tgz"), archive);
        }
        let parent = Chart::from_files("p", parent).unwrap();
        // Each archive alone fits the limit; the three together do not.
        let err = parent.bundled(&limits).err().map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains(
                "decompressed size (with the chart that bundles it) exceeds the limit of 10000 bytes"
            )),
            "{err:?}"
        );
        let two = Limits {
            max_decompressed_bytes: 13_000,
            ..limits
        };
        let bundled = Chart::from_files("p", {
            let mut p = parent.files.clone();
            p.remove("charts/c-1.0.0.tgz");
            p
        })
        .unwrap()
        .bundled(&two)
        .unwrap();
        assert_eq!(bundled.len(), 2);
    }
}
