//! Splitting an umbrella chart, as Azure Orkestra did: once an application lists any subchart in
//! `spec.subcharts`, every application chart bundled in its `charts/` becomes a chart of its own,
//! deployed by its own HelmRelease before the parent. The listed ones follow their listed
//! dependencies; the unlisted ones ("discovered") have none. A group that lists no subchart
//! deploys the umbrella chart whole, as Helm would.
//!
//! One exception, where Azure Orkestra deployed what Helm would not: an unlisted subchart that the
//! parent's own `values.yaml`, or its own defaults, turn off (its dependency `condition`, or its
//! `tags`, read as Helm reads them) is not split; it stays in the parent, off unless the release values turn it on.
//! Library charts are never split (they render nothing alone).
//!
//! A split subchart gets:
//! - the name [`staged_chart_name`]`(parent, subchart)`, unique per parent chart, and the
//!   annotation `orkestra.azure.microsoft.com/parent-chart: <parent>`;
//! - the parent's helper templates (`templates/_*.tpl`) as `templates/_<parent>_<file>`, because
//!   subchart templates may call the parent's `define`s;
//! - values = its defaults, overridden by the parent's values for it, with `global` merged in.
//!
//! The parent keeps its own templates and the bundled chart, but its Chart.yaml dependency entry
//! gets `condition: <key>.enabled` (tags removed) and its values `<key>.enabled: false`, so Helm
//! skips it. When the parent would then render nothing, it gets a placeholder ConfigMap, because
//! Helm and Flux treat a release without manifests as a failure.

use serde_json::{Map, Value as Json};
use serde_norway::{Mapping, Value};

use crate::staging::error::StagingError;
use crate::staging::limits::Limits;
use crate::staging::prepare::chart::{Bundled, Chart, is_entry};
use crate::staging::prepare::values::{
    SCHEMA_FILE, merge, schema_accepting_switches, subchart_values,
};
use orkestra_shared::names::staged_chart_name;
use orkestra_shared::names::{PARENT_CHART_ANNOTATION, is_dns1123_label};

/// Template added to a parent that would otherwise render nothing.
pub const PLACEHOLDER_TEMPLATE: &str = "templates/orkestra-placeholder.yaml";

const PLACEHOLDER: &str = r#"# Added by Orkestra: this chart's subcharts are deployed as releases of their own, and Helm
# refuses a release without manifests.
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ printf "%s-orkestra-placeholder" .Release.Name | trunc 63 | trimSuffix "-" }}
  labels:
    app.kubernetes.io/managed-by: {{ .Release.Service }}
data:
  chart: {{ .Chart.Name | quote }}
"#;

/// A subchart made standalone.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitSubchart {
    /// The subchart's name as listed in `spec.subcharts`.
    pub subchart: String,
    /// The key of its values in the parent (alias or name).
    pub key: String,
    /// The standalone chart (already renamed to its staged name).
    pub chart: Chart,
}

/// The outcome of splitting: the modified parent and its standalone subcharts.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// The parent with the split subcharts disabled.
    pub parent: Chart,
    /// One entry per listed subchart, in the order listed, then one per discovered subchart in
    /// bundle order, named by its values key.
    pub subcharts: Vec<SplitSubchart>,
}

/// Splits the listed `subcharts` out of `parent`.
pub fn split(
    mut parent: Chart,
    subcharts: &[String],
    limits: &Limits,
) -> Result<Split, StagingError> {
    parent.ensure_application()?;
    if subcharts.is_empty() {
        return Ok(Split {
            parent,
            subcharts: Vec::new(),
        });
    }
    let bundled = parent.bundled(limits)?;
    let mut parent_values = parent.values()?;
    if !parent_values.is_object() {
        parent_values = Json::Object(Map::new());
    }
    let helpers: Vec<(String, Vec<u8>)> = parent
        .files
        .iter()
        .filter_map(|(path, data)| {
            let file = path.strip_prefix("templates/")?;
            let rest = file
                .strip_prefix('_')
                .filter(|r| r.ends_with(".tpl") && !r.contains('/'))?;
            Some((format!("templates/_{}_{rest}", parent.name), data.clone()))
        })
        .collect();

    let mut out: Vec<SplitSubchart> = Vec::new();
    for wanted in subcharts {
        let (found, key) = find(&parent, &bundled, wanted).ok_or_else(|| {
            let names: Vec<String> = bundled
                .iter()
                .flat_map(|b| parent.values_keys(&b.chart.name))
                .collect();
            StagingError::InvalidSpec(format!(
                "subchart {wanted} is listed in spec.subcharts but chart {} bundles no such chart (it has: {})",
                parent.name,
                if names.is_empty() { "none".to_owned() } else { names.join(", ") }
            ))
        })?;
        out.push(take_out(
            &mut parent,
            &mut parent_values,
            &helpers,
            found,
            wanted,
            key,
        )?);
    }
    // The unlisted ones, as Azure Orkestra split them (see the module doc). Whether one is on is
    // read from the parent's values as shipped, before any subchart was turned off, coalesced
    // with every bundled chart's defaults under its key as Helm's `processDependencyEnabled`
    // reads them: `condition: metrics.enabled` is answered by `charts/metrics/values.yaml` when
    // the parent's values say nothing.
    let mut shipped = Json::Object(Map::new());
    for found in &bundled {
        let defaults = found.chart.values()?;
        for key in parent.values_keys(&found.chart.name) {
            merge(
                &mut shipped,
                &Json::Object(Map::from_iter([(key, defaults.clone())])),
            );
        }
    }
    merge(&mut shipped, &parent.values()?);
    for found in bundled.iter().filter(|b| !b.chart.is_library()) {
        for key in parent.values_keys(&found.chart.name) {
            let listed = out.iter().any(|s| s.key == key);
            let on = parent
                .dependency(&found.chart.name, &key)
                .is_none_or(|dependency| enabled_by(dependency, &shipped));
            if !listed && on {
                let name = key.clone();
                out.push(take_out(
                    &mut parent,
                    &mut parent_values,
                    &helpers,
                    found,
                    &name,
                    key,
                )?);
            }
        }
    }
    let split_keys: Vec<&str> = out.iter().map(|s| s.key.as_str()).collect();

    // A bundled chart still renders in the parent under each values key not split out.
    let remaining_apps = bundled
        .iter()
        .filter(|b| !b.chart.is_library())
        .flat_map(|b| parent.values_keys(&b.chart.name))
        .filter(|key| !split_keys.contains(&key.as_str()))
        .count();
    if remaining_apps == 0 && !renders_templates(&parent) {
        parent.files.insert(
            PLACEHOLDER_TEMPLATE.to_owned(),
            PLACEHOLDER.as_bytes().to_vec(),
        );
    }
    parent.set_values(&parent_values)?;
    if let Some(schema) = parent
        .files
        .get(SCHEMA_FILE)
        .and_then(|raw| schema_accepting_switches(raw, &split_keys))
    {
        parent.files.insert(SCHEMA_FILE.to_owned(), schema);
    }
    parent.sync_metadata()?;
    Ok(Split {
        parent,
        subcharts: out,
    })
}

/// Makes bundled chart `found` (values key `key`) a chart of its own named after `subchart`, with
/// the parent's helper templates (`helpers`) and its values from the parent's, and turns it off in
/// the parent.
fn take_out(
    parent: &mut Chart,
    parent_values: &mut Json,
    helpers: &[(String, Vec<u8>)],
    found: &Bundled,
    subchart: &str,
    key: String,
) -> Result<SplitSubchart, StagingError> {
    found.chart.ensure_application()?;
    let mut chart = found.chart.clone();
    let values = subchart_values(&chart.values()?, parent_values, &key);
    let staged_name = staged_chart_name(&parent.name, subchart);
    if !is_dns1123_label(&staged_name) {
        return Err(StagingError::InvalidSpec(format!(
            "subchart {subchart} of chart {} would be staged as {staged_name:?}, which is not a DNS-1123 name",
            parent.name
        )));
    }
    chart.rename(&staged_name);
    chart.annotate(PARENT_CHART_ANNOTATION, &parent.name);
    for (path, data) in helpers {
        chart.files.insert(path.clone(), data.clone());
    }
    chart.set_values(&values)?;
    chart.sync_metadata()?;
    disable(parent, parent_values, &found.chart, &key);
    Ok(SplitSubchart {
        subchart: subchart.to_owned(),
        key,
        chart,
    })
}

/// The bundled chart a `spec.subcharts` name refers to, and the key of its values in the parent:
/// by values key (an alias, or the name of a chart listed without one) first, then by chart name
/// (the values key is then the chart's first alias).
fn find<'a>(parent: &Chart, bundled: &'a [Bundled], wanted: &str) -> Option<(&'a Bundled, String)> {
    bundled
        .iter()
        .find(|b| {
            parent
                .values_keys(&b.chart.name)
                .iter()
                .any(|k| k == wanted)
        })
        .map(|b| (b, wanted.to_owned()))
        .or_else(|| {
            bundled
                .iter()
                .find(|b| b.chart.name == wanted)
                .map(|b| (b, parent.values_key(&b.chart.name)))
        })
}

/// Makes Helm skip a bundled chart: `condition: <key>.enabled` on its dependency entry (added if
/// Chart.yaml does not list it) and `<key>.enabled: false` in the parent's values.
fn disable(parent: &mut Chart, values: &mut Json, sub: &Chart, key: &str) {
    let condition = Value::String(format!("{key}.enabled"));
    parent.edit_dependencies(|deps| {
        let entry = deps.iter_mut().find(|d| is_entry(d, &sub.name, key));
        match entry {
            Some(Value::Mapping(dep)) => {
                dep.insert(Value::String("condition".into()), condition);
                dep.remove("tags");
            }
            _ => {
                let mut dep = Mapping::new();
                dep.insert(
                    Value::String("name".into()),
                    Value::String(sub.name.clone()),
                );
                dep.insert(
                    Value::String("version".into()),
                    Value::String(sub.version.clone()),
                );
                if key != sub.name {
                    dep.insert(Value::String("alias".into()), Value::String(key.to_owned()));
                }
                dep.insert(Value::String("condition".into()), condition);
                deps.push(Value::Mapping(dep));
            }
        }
    });
    if let Json::Object(map) = values {
        let section = map
            .entry(key.to_owned())
            .or_insert_with(|| Json::Object(Map::new()));
        if !section.is_object() {
            *section = Json::Object(Map::new());
        }
        if let Json::Object(section) = section {
            section.insert("enabled".into(), Json::Bool(false));
        }
    }
}

/// Whether Helm would render a dependency with `values`: the first of its `condition` paths
/// (comma-separated, from the top of the values) that holds a boolean decides; without one, its
/// `tags` do (any `tags.<tag>` true enables, else any false disables); otherwise it is enabled.
fn enabled_by(dependency: &Value, values: &Json) -> bool {
    let lookup = |path: &str| {
        path.trim()
            .split('.')
            .try_fold(values, |at, part| at.get(part))
            .and_then(Json::as_bool)
    };
    let condition = dependency.get("condition").and_then(Value::as_str);
    if let Some(decided) = condition.and_then(|c| c.split(',').find_map(lookup)) {
        return decided;
    }
    let tags: Vec<bool> = match dependency.get("tags") {
        Some(Value::Sequence(tags)) => tags
            .iter()
            .filter_map(Value::as_str)
            .filter_map(|tag| values.get("tags")?.get(tag)?.as_bool())
            .collect(),
        _ => Vec::new(),
    };
    tags.contains(&true) || !tags.contains(&false)
}

/// True when the chart has a template Helm would render as a manifest (not a `_` helper, not
/// NOTES.txt).
fn renders_templates(chart: &Chart) -> bool {
    chart.files.keys().any(|path| {
        path.strip_prefix("templates/").is_some_and(|rest| {
            let file = rest.rsplit('/').next().unwrap_or(rest);
            !file.starts_with('_') && file != "NOTES.txt"
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::staging::prepare::archive::ChartFiles;

    fn chart(files: &[(&str, &str)]) -> Chart {
        let files: ChartFiles = files
            .iter()
            .map(|(p, c)| ((*p).to_owned(), c.as_bytes().to_vec()))
            .collect();
        Chart::from_files("test", files).unwrap_or_else(|err| panic!("{err}"))
    }

    fn yaml(chart: &Chart, path: &str) -> serde_json::Value {
        serde_norway::from_slice(&chart.files[path]).unwrap_or_default()
    }

    #[test]
    fn an_aliased_dependency_is_found_by_its_alias_and_disabled_under_it() {
        let parent = chart(&[
            (
                "Chart.yaml",
                "apiVersion: v2\nname: p\nversion: 1.0.0\ndependencies:\n- {name: db, version: 1.0.0, alias: primary, tags: [x]}\n",
            ),
            ("values.yaml", "primary: {size: 3}\n"),
            ("templates/a.yaml", "kind: A\n"),
            (
                "charts/db/Chart.yaml",
                "apiVersion: v2\nname: db\nversion: 1.0.0\n",
            ),
            ("charts/db/values.yaml", "size: 1\n"),
        ]);
        let split = split(parent, &["primary".to_owned()], &Limits::default())
            .unwrap_or_else(|err| panic!("{err}"));
        let sub = &split.subcharts[0];
        assert_eq!(
            (sub.chart.name.as_str(), sub.key.as_str()),
            ("p-primary", "primary")
        );
        assert_eq!(yaml(&sub.chart, "values.yaml")["size"], 3);
        let deps = yaml(&split.parent, "Chart.yaml")["dependencies"].clone();
        assert_eq!(deps[0]["condition"], "primary.enabled");
        assert_eq!(deps[0].get("tags"), None);
        assert_eq!(
            yaml(&split.parent, "values.yaml")["primary"],
            serde_json::json!({"size": 3, "enabled": false})
        );
    }

    #[test]
    fn one_chart_aliased_twice_splits_into_two_charts_each_with_its_own_values() {
        let parent = chart(&[
            (
                "Chart.yaml",
                "apiVersion: v2\nname: p\nversion: 1.0.0\ndependencies:\n- {name: db, version: 1.0.0, alias: primary}\n- {name: db, version: 1.0.0, alias: replica}\n",
            ),
            ("values.yaml", "primary: {size: 3}\nreplica: {size: 2}\n"),
            (
                "charts/db/Chart.yaml",
                "apiVersion: v2\nname: db\nversion: 1.0.0\n",
            ),
            ("charts/db/values.yaml", "size: 1\n"),
            ("charts/db/templates/x.yaml", "kind: X\n"),
        ]);
        // Listing one splits both (Azure Orkestra's rule): the listed first, then the other.
        let only_replica = split(parent.clone(), &["replica".to_owned()], &Limits::default())
            .unwrap_or_else(|err| panic!("{err}"));
        let keys: Vec<(&str, &str, &str)> = only_replica
            .subcharts
            .iter()
            .map(|s| (s.subchart.as_str(), s.chart.name.as_str(), s.key.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("replica", "p-replica", "replica"),
                ("primary", "p-primary", "primary")
            ]
        );
        assert_eq!(
            yaml(&only_replica.subcharts[0].chart, "values.yaml")["size"],
            2
        );
        assert_eq!(
            yaml(&only_replica.subcharts[1].chart, "values.yaml")["size"],
            3
        );
        assert!(only_replica.parent.files.contains_key(PLACEHOLDER_TEMPLATE));

        let both = split(
            parent,
            &["primary".to_owned(), "replica".to_owned()],
            &Limits::default(),
        )
        .unwrap_or_else(|err| panic!("{err}"));
        let keys: Vec<(&str, &str)> = both
            .subcharts
            .iter()
            .map(|s| (s.chart.name.as_str(), s.key.as_str()))
            .collect();
        assert_eq!(keys, [("p-primary", "primary"), ("p-replica", "replica")]);
        assert_eq!(yaml(&both.subcharts[0].chart, "values.yaml")["size"], 3);
        let deps = yaml(&both.parent, "Chart.yaml")["dependencies"].clone();
        assert_eq!(deps[0]["condition"], "primary.enabled");
        assert_eq!(deps[1]["condition"], "replica.enabled");
        assert!(both.parent.files.contains_key(PLACEHOLDER_TEMPLATE));
    }

    #[test]
    fn a_bundled_chart_missing_from_dependencies_gets_an_entry_with_the_condition() {
        let parent = chart(&[
            ("Chart.yaml", "apiVersion: v2\nname: p\nversion: 1.0.0\n"),
            (
                "charts/cache/Chart.yaml",
                "apiVersion: v2\nname: cache\nversion: 2.0.0\n",
            ),
            ("charts/cache/templates/x.yaml", "kind: X\n"),
        ]);
        let split = split(parent, &["cache".to_owned()], &Limits::default())
            .unwrap_or_else(|err| panic!("{err}"));
        let deps = yaml(&split.parent, "Chart.yaml")["dependencies"].clone();
        assert_eq!(
            deps,
            serde_json::json!([{"name": "cache", "version": "2.0.0", "condition": "cache.enabled"}])
        );
        // Nothing else renders in the parent: it gets the placeholder.
        assert!(split.parent.files.contains_key(PLACEHOLDER_TEMPLATE));
    }

    #[test]
    fn an_unlisted_subchart_its_own_defaults_turn_off_is_not_split() {
        let parent = chart(&[
            (
                "Chart.yaml",
                "apiVersion: v2\nname: p\nversion: 1.0.0\ndependencies:\n\
                 - {name: web, version: 1.0.0}\n\
                 - {name: metrics, version: 1.0.0, condition: metrics.enabled}\n\
                 - {name: audit, version: 1.0.0, condition: audit.enabled}\n",
            ),
            ("values.yaml", "audit: {enabled: true}\n"),
            ("templates/a.yaml", "kind: A\n"),
            (
                "charts/web/Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 1.0.0\n",
            ),
            ("charts/web/templates/x.yaml", "kind: X\n"),
            (
                "charts/metrics/Chart.yaml",
                "apiVersion: v2\nname: metrics\nversion: 1.0.0\n",
            ),
            ("charts/metrics/values.yaml", "enabled: false\n"),
            ("charts/metrics/templates/x.yaml", "kind: X\n"),
            (
                "charts/audit/Chart.yaml",
                "apiVersion: v2\nname: audit\nversion: 1.0.0\n",
            ),
            ("charts/audit/values.yaml", "enabled: false\n"),
            ("charts/audit/templates/x.yaml", "kind: X\n"),
        ]);
        let split = split(parent, &["web".to_owned()], &Limits::default())
            .unwrap_or_else(|err| panic!("{err}"));
        let names: Vec<&str> = split
            .subcharts
            .iter()
            .map(|s| s.subchart.as_str())
            .collect();
        // metrics: off by its own defaults, as Helm renders the umbrella; audit: the parent's
        // values turn it on over its defaults.
        assert_eq!(names, ["web", "audit"]);
    }

    #[test]
    fn unlisted_subcharts_are_split_unless_the_parent_turns_them_off_and_libraries_stay() {
        let parent = chart(&[
            (
                "Chart.yaml",
                "apiVersion: v2\nname: p\nversion: v1\ndependencies:\n\
                 - {name: web, version: 1.0.0}\n\
                 - {name: db, version: 1.0.0, condition: db.enabled}\n\
                 - {name: cache, version: 1.0.0, condition: 'cache.on,cache.enabled'}\n\
                 - {name: metrics, version: 1.0.0, tags: [observability]}\n\
                 - {name: tracing, version: 1.0.0, tags: [observability, debug]}\n\
                 - {name: lib, version: 1.0.0}\n",
            ),
            (
                "values.yaml",
                "db: {enabled: true}\ncache: {enabled: false}\ntags: {observability: false, debug: true}\n",
            ),
            ("templates/a.yaml", "kind: A\n"),
        ]);
        let mut files = parent.files.clone();
        for sub in ["web", "db", "cache", "metrics", "tracing"] {
            files.insert(
                format!("charts/{sub}/Chart.yaml"),
                format!("apiVersion: v2\nname: {sub}\nversion: 1.0.0\n").into_bytes(),
            );
            files.insert(
                format!("charts/{sub}/templates/x.yaml"),
                b"kind: X\n".to_vec(),
            );
        }
        files.insert(
            "charts/lib/Chart.yaml".into(),
            b"apiVersion: v2\nname: lib\nversion: 1.0.0\ntype: library\n".to_vec(),
        );
        let parent = Chart::from_files("test", files).unwrap_or_else(|err| panic!("{err}"));

        let none = split(parent.clone(), &[], &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            none.subcharts.is_empty(),
            "nothing listed: the chart is deployed whole"
        );

        let split = split(parent, &["web".to_owned()], &Limits::default())
            .unwrap_or_else(|err| panic!("{err}"));
        let mut names: Vec<&str> = split
            .subcharts
            .iter()
            .map(|s| s.subchart.as_str())
            .collect();
        assert_eq!(names.remove(0), "web", "the listed one first");
        names.sort_unstable();
        // cache is off by its condition, metrics by its only tag; tracing has a true tag.
        assert_eq!(names, ["db", "tracing"]);
        let values = yaml(&split.parent, "values.yaml");
        for key in ["web", "db", "tracing"] {
            assert_eq!(values[key]["enabled"], false, "{key} is off in the parent");
        }
        assert_eq!(values["cache"], serde_json::json!({"enabled": false}));
        let deps = yaml(&split.parent, "Chart.yaml")["dependencies"].clone();
        assert_eq!(deps[3]["tags"], serde_json::json!(["observability"]));
        assert_eq!(deps[4]["condition"], "tracing.enabled");
    }

    #[test]
    fn a_library_subchart_cannot_be_split_out() {
        let parent = chart(&[
            ("Chart.yaml", "apiVersion: v2\nname: p\nversion: 1.0.0\n"),
            (
                "charts/lib/Chart.yaml",
                "apiVersion: v2\nname: lib\nversion: 1.0.0\ntype: library\n",
            ),
        ]);
        let err = split(parent, &["lib".to_owned()], &Limits::default())
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains("library chart")),
            "{err:?}"
        );
    }
}
