//! Free-form JSON objects of the API (release values, Helm action settings), kept as JSON text.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// A free-form JSON object (`x-kubernetes-preserve-unknown-fields`), kept as the JSON text it was
/// read from, as Kubernetes' own `apiextensionsv1.JSON` keeps it. Reading one only finds where it
/// ends and builds nothing: the webhook reads every application's values on every review and needs
/// none of them (a third of a review's cost when they were trees). The controller and the plan
/// take the tree ([`FreeForm::to_value`]) where they use the contents.
///
/// Read from JSON only (serde_json, `serde_json::from_value` included: read YAML into a JSON tree
/// first); written to any format, as its tree. Equal when the trees are equal.
#[derive(Debug, Clone)]
pub struct FreeForm(Box<RawValue>);

impl FreeForm {
    /// The JSON text, as read.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// True when the text is a JSON object, the only form the schema allows.
    pub fn is_object(&self) -> bool {
        self.0.get().starts_with('{')
    }

    /// The JSON tree.
    pub fn to_value(&self) -> Value {
        // NB: the text is valid JSON (it was read as JSON or written from a tree).
        serde_json::from_str(self.0.get()).unwrap_or(Value::Null)
    }
}

impl From<&Value> for FreeForm {
    fn from(value: &Value) -> Self {
        // NB: writing a JSON tree as text cannot fail.
        FreeForm(
            serde_json::value::to_raw_value(value).unwrap_or_else(|_| RawValue::NULL.to_owned()),
        )
    }
}

impl From<Value> for FreeForm {
    fn from(value: Value) -> Self {
        FreeForm::from(&value)
    }
}

impl PartialEq for FreeForm {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get() || self.to_value() == other.to_value()
    }
}

impl Serialize for FreeForm {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // NB: as a tree, not as raw text: raw text only means something to serde_json, and groups
        // are also written as YAML (`orkestra-webhook check`).
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for FreeForm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(FreeForm)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_from_text_and_from_trees_alike() {
        let text = r#"{"image": {"tag": "1.2.3"}, "replicas": 2}"#;
        let from_text: FreeForm = serde_json::from_str(text).unwrap();
        let tree: Value = serde_json::from_str(text).unwrap();
        let from_tree: FreeForm = serde_json::from_value(tree.clone()).unwrap();
        let from_borrowed_tree = FreeForm::deserialize(&tree).unwrap();
        assert_eq!(from_text.to_value(), tree);
        assert_eq!(from_text, from_tree);
        assert_eq!(from_tree, from_borrowed_tree);
        assert_eq!(FreeForm::from(&tree), from_text);
    }

    #[test]
    fn is_written_as_a_tree_in_any_format() {
        let values = FreeForm::from(json!({"replicas": 2, "tags": ["a"]}));
        assert_eq!(
            serde_json::to_value(&values).unwrap(),
            json!({"replicas": 2, "tags": ["a"]})
        );
        let yaml = serde_norway::to_string(&values).unwrap();
        let back: Value = serde_norway::from_str(&yaml).unwrap();
        assert_eq!(back, json!({"replicas": 2, "tags": ["a"]}));
    }

    #[test]
    fn only_objects_are_objects_and_equality_is_of_trees() {
        let spaced: FreeForm = serde_json::from_str(r#"{ "a" : 1 }"#).unwrap();
        assert!(spaced.is_object());
        let nested: std::collections::BTreeMap<String, FreeForm> =
            serde_json::from_str("{\"values\":  \n {\"a\": 1}}").unwrap();
        assert!(nested["values"].is_object(), "{:?}", nested["values"]);
        assert_eq!(spaced, FreeForm::from(json!({"a": 1})));
        assert_ne!(spaced, FreeForm::from(json!({"a": 2})));
        for not_an_object in ["[1]", "\"text\"", "3", "true"] {
            let read: FreeForm = serde_json::from_str(not_an_object).unwrap();
            assert!(!read.is_object(), "{not_an_object}");
        }
    }
}
