//! Fixture Helm charts built in code, and a directory layout Helm repositories serve
//! (`index.yaml` + `<name>-<version>.tgz`).
//!
//! The fixtures render ConfigMaps whose data echo their values, so a test that renders a staged
//! chart can see which values reached which chart:
//! - [`plain`]: one ConfigMap `{{ .Release.Name }}-<name>` with `message`.
//! - [`umbrella`]: a parent with its own ConfigMap and helper template, and N subcharts
//!   (`sub-1` … `sub-N`) as directories in `charts/`, the last one packaged as a `.tgz`; each
//!   subchart's template calls the parent's helper `<parent>.greeting` and echoes `message` and
//!   `global.env`.
//! - [`library`]: a `type: library` chart. [`with_schema`]: a chart with `values.schema.json`.
//! - [`bad_archive`]: broken or hostile archives for error tests.

mod bad_archive;

pub use bad_archive::{BadArchive, bad_archive};

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use flate2::{Compression, write::GzEncoder};
use sha2::{Digest, Sha256};

/// A chart in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureChart {
    /// Chart name.
    pub name: String,
    /// Chart version.
    pub version: String,
    /// Files by path relative to the chart root.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl FixtureChart {
    /// An application chart with Chart.yaml only.
    pub fn new(name: &str, version: &str) -> Self {
        let mut chart = Self {
            name: name.into(),
            version: version.into(),
            files: BTreeMap::new(),
        };
        chart.set(
            "Chart.yaml",
            &format!("apiVersion: v2\nname: {name}\nversion: {version}\ntype: application\n"),
        );
        chart
    }

    /// Adds or replaces a file.
    pub fn set(&mut self, path: &str, content: &str) -> &mut Self {
        self.files.insert(path.into(), content.as_bytes().to_vec());
        self
    }

    /// Bundles `sub` under `charts/<name>/` (or as `charts/<name>-<version>.tgz` when `packaged`).
    pub fn bundle(&mut self, sub: &FixtureChart, packaged: bool) -> &mut Self {
        if packaged {
            self.files.insert(
                format!("charts/{}-{}.tgz", sub.name, sub.version),
                sub.tgz(),
            );
        } else {
            for (path, data) in &sub.files {
                self.files
                    .insert(format!("charts/{}/{path}", sub.name), data.clone());
            }
        }
        self
    }

    /// The chart as a `.tgz` (entries under `<name>/`).
    pub fn tgz(&self) -> Vec<u8> {
        let entries: Vec<(String, Vec<u8>)> = self
            .files
            .iter()
            .map(|(p, d)| (format!("{}/{p}", self.name), d.clone()))
            .collect();
        tgz(&entries)
    }
}

/// A tgz of regular files with the given raw paths (not checked, so hostile paths are possible).
pub fn tgz(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for (path, data) in entries {
        append_raw(&mut builder, path, tar::EntryType::Regular, data, None);
    }
    finish(builder)
}

fn append_raw<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &str,
    kind: tar::EntryType,
    data: &[u8],
    link: Option<&str>,
) {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(1_600_000_000);
    // NB: write the name bytes directly: `set_path` refuses `..` and absolute paths, which the
    // hostile fixtures need.
    let name = &mut header.as_old_mut().name;
    let bytes = path.as_bytes();
    let n = bytes.len().min(name.len());
    name[..n].copy_from_slice(&bytes[..n]);
    if let Some(link) = link {
        let target = &mut header.as_old_mut().linkname;
        let bytes = link.as_bytes();
        let n = bytes.len().min(target.len());
        target[..n].copy_from_slice(&bytes[..n]);
    }
    header.set_cksum();
    // Writing into a Vec cannot fail.
    let _ = builder.append(&header, data);
}

fn finish(builder: tar::Builder<GzEncoder<Vec<u8>>>) -> Vec<u8> {
    builder
        .into_inner()
        .and_then(GzEncoder::finish)
        .unwrap_or_default()
}

/// A chart rendering one ConfigMap that echoes `message`.
pub fn plain(name: &str, version: &str) -> FixtureChart {
    let mut chart = FixtureChart::new(name, version);
    chart.set("values.yaml", "message: hello\n").set(
        "templates/configmap.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-{name}\ndata:\n  \
             message: {{{{ .Values.message | quote }}}}\n"
        ),
    );
    chart
}

/// A chart whose manifest the API server refuses: a ConfigMap named with capitals and an
/// underscore, which no DNS-1123 subdomain allows. Helm renders it; the install fails.
pub fn refused(name: &str, version: &str) -> FixtureChart {
    let mut chart = FixtureChart::new(name, version);
    chart.set(
        "templates/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_A_Valid_Name\ndata:\n  a: b\n",
    );
    chart
}

/// A chart whose install never becomes ready on a cluster without a node: a Deployment (Helm and
/// Flux wait for it to be available, which needs a scheduled pod), so the install outlasts any
/// timeout.
pub fn never_ready(name: &str, version: &str) -> FixtureChart {
    let mut chart = FixtureChart::new(name, version);
    chart.set(
        "templates/deployment.yaml",
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{{{ .Release.Name }}}}-{name}\nspec:\n  \
             selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    \
             spec:\n      containers:\n      - name: app\n        image: orkestra.test/never-pulled:1\n"
        ),
    );
    chart
}

/// An umbrella chart with `subcharts` subcharts `sub-1` … `sub-N` (the last packaged as a .tgz).
pub fn umbrella(name: &str, version: &str, subcharts: usize) -> FixtureChart {
    let mut parent = plain(name, version);
    parent.set(
        "templates/_helpers.tpl",
        &format!("{{{{- define \"{name}.greeting\" -}}}}hello from {name}{{{{- end -}}}}\n"),
    );
    let mut values = String::from("message: parent\nglobal:\n  env: prod\n");
    let mut deps = String::from("dependencies:\n");
    for i in 1..=subcharts {
        let sub_name = format!("sub-{i}");
        let mut sub = FixtureChart::new(&sub_name, "0.1.0");
        sub.set("values.yaml", "message: default\nglobal:\n  env: dev\n").set(
            "templates/configmap.yaml",
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-{sub_name}\ndata:\n  \
                 message: {{{{ .Values.message | quote }}}}\n  env: {{{{ .Values.global.env | quote }}}}\n  \
                 greeting: {{{{ include \"{name}.greeting\" . | quote }}}}\n"
            ),
        );
        parent.bundle(&sub, i == subcharts);
        values.push_str(&format!(
            "{sub_name}:\n  message: from-{name}-for-{sub_name}\n"
        ));
        deps.push_str(&format!("- name: {sub_name}\n  version: 0.1.0\n"));
    }
    let chart_yaml =
        format!("apiVersion: v2\nname: {name}\nversion: {version}\ntype: application\n{deps}");
    parent
        .set("Chart.yaml", &chart_yaml)
        .set("values.yaml", &values);
    parent
}

/// An umbrella chart with aliased dependencies: `db` 0.1.0 bundled once and listed twice, under
/// the aliases `primary` and `replica`, and `cache` 0.1.0 under the alias `memo`. Helm reads each
/// one's values under its alias (`primary.message`, `replica.message`, `memo.message`).
pub fn aliased(name: &str, version: &str) -> FixtureChart {
    let mut parent = plain(name, version);
    for sub in ["db", "cache"] {
        let mut chart = plain(sub, "0.1.0");
        chart.set("values.yaml", "message: default\n");
        parent.bundle(&chart, sub == "cache");
    }
    parent
        .set(
            "Chart.yaml",
            &format!(
                "apiVersion: v2\nname: {name}\nversion: {version}\ntype: application\ndependencies:\n\
                 - name: db\n  version: 0.1.0\n  alias: primary\n\
                 - name: db\n  version: 0.1.0\n  alias: replica\n\
                 - name: cache\n  version: 0.1.0\n  alias: memo\n"
            ),
        )
        .set(
            "values.yaml",
            &format!(
                "message: parent\nprimary:\n  message: from-{name}-for-primary\nreplica:\n  \
                 message: from-{name}-for-replica\nmemo:\n  message: from-{name}-for-memo\n"
            ),
        );
    parent
}

/// A `type: library` chart.
pub fn library(name: &str, version: &str) -> FixtureChart {
    let mut chart = FixtureChart::new(name, version);
    chart
        .set(
            "Chart.yaml",
            &format!("apiVersion: v2\nname: {name}\nversion: {version}\ntype: library\n"),
        )
        .set(
            "templates/_lib.tpl",
            "{{- define \"lib.x\" -}}x{{- end -}}\n",
        );
    chart
}

/// A chart whose values.schema.json requires `replicas` (integer ≥ 1) and a string `image.tag`.
pub fn with_schema(name: &str, version: &str) -> FixtureChart {
    let mut chart = plain(name, version);
    chart
        .set(
            "values.yaml",
            "message: hello\nreplicas: 1\nimage:\n  tag: \"1.0\"\n",
        )
        .set(
            "values.schema.json",
            r#"{"$schema": "https://json-schema.org/draft-07/schema#", "type": "object",
            "required": ["replicas"],
            "properties": {
              "replicas": {"type": "integer", "minimum": 1},
              "image": {"type": "object", "properties": {"tag": {"type": "string"}}}
            }}"#,
        );
    chart
}

/// An archive to publish in a repository: chart name, version, bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Chart name in the index.
    pub name: String,
    /// Version in the index.
    pub version: String,
    /// The archive.
    pub tgz: Vec<u8>,
}

impl From<&FixtureChart> for Published {
    fn from(chart: &FixtureChart) -> Self {
        Self {
            name: chart.name.clone(),
            version: chart.version.clone(),
            tgz: chart.tgz(),
        }
    }
}

/// Writes `charts` as `<name>-<version>.tgz` plus an `index.yaml` (relative URLs, sha256
/// digests) into `dir`.
pub fn write_repo(dir: &Path, charts: &[Published]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut entries: BTreeMap<&str, Vec<serde_json::Value>> = BTreeMap::new();
    for chart in charts {
        let file = format!("{}-{}.tgz", chart.name, chart.version);
        std::fs::write(dir.join(&file), &chart.tgz)?;
        entries
            .entry(&chart.name)
            .or_default()
            .push(serde_json::json!({
                "apiVersion": "v2",
                "name": chart.name,
                "version": chart.version,
                "urls": [file],
                "digest": hex::encode(Sha256::digest(&chart.tgz)),
                "created": "2026-01-01T00:00:00Z",
            }));
    }
    let index = serde_json::json!({"apiVersion": "v1", "entries": entries, "generated": "2026-01-01T00:00:00Z"});
    let text = serde_norway::to_string(&index).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("index.yaml"), text)
}

/// The standard fixture set: `hello` (1.0.0, 1.2.0, 2.0.0-rc.1), `bookinfo` 1.0.0 (umbrella with
/// 4 subcharts), `greeter` (1.0.0 one ConfigMap; 1.1.0 [`refused`] by the API server; 1.2.0
/// [`never_ready`]: real Helm failures for rollbacks), `upstream-bookinfo` `v1` (the same shape, versioned as Azure Orkestra's own
/// bookinfo chart is), `big` 1.0.0 (umbrella with 20), `pair` 1.0.0 (one chart bundled under two
/// aliases, see [`aliased`]), `common` (library), `strict` (schema), and every [`BadArchive`] as
/// `<bad name>` 1.0.0.
pub fn standard_fixtures() -> Vec<Published> {
    let mut out: Vec<Published> = [
        plain("hello", "1.0.0"),
        plain("hello", "1.2.0"),
        plain("hello", "2.0.0-rc.1"),
        umbrella("bookinfo", "1.0.0", 4),
        plain("greeter", "1.0.0"),
        refused("greeter", "1.1.0"),
        never_ready("greeter", "1.2.0"),
        umbrella("upstream-bookinfo", "v1", 4),
        umbrella("big", "1.0.0", 20),
        aliased("pair", "1.0.0"),
        library("common", "1.0.0"),
        with_schema("strict", "1.0.0"),
    ]
    .iter()
    .map(Published::from)
    .collect();
    for kind in BadArchive::ALL {
        out.push(Published {
            name: kind.chart_name().into(),
            version: "1.0.0".into(),
            tgz: bad_archive(kind),
        });
    }
    out
}
