//! Reading fields only in the JSON form the CRD's schema allows.
//!
//! serde's derived readers are lenient where the schema is not: a struct also reads from an array
//! of its fields in order (`release: []`), and an enum also reads from a one-key object
//! (`type: {"custom": null}`). The API server refuses both; so do these readers, used through
//! `#[serde(deserialize_with = ...)]` on the API types.

use k8s_openapi::api::core::v1::ObjectReference;
use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, StrDeserializer};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// A struct, read only from a JSON object.
pub(crate) fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    deserializer.deserialize_map(ObjectForm(PhantomData))
}

/// A list of structs, each read only from a JSON object.
pub(crate) fn objects<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    deserializer.deserialize_seq(ListOfObjects(PhantomData))
}

/// An optional ObjectReference, refusing fields it does not have (k8s-openapi's reader skips them).
pub(crate) fn object_reference<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Box<ObjectReference>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Strict {
        api_version: Option<String>,
        field_path: Option<String>,
        kind: Option<String>,
        name: Option<String>,
        namespace: Option<String>,
        resource_version: Option<String>,
        uid: Option<String>,
    }
    let strict: Option<Strict> = deserializer.deserialize_option(OptionalObject(PhantomData))?;
    Ok(strict.map(|r| {
        Box::new(ObjectReference {
            api_version: r.api_version,
            field_path: r.field_path,
            kind: r.kind,
            name: r.name,
            namespace: r.namespace,
            resource_version: r.resource_version,
            uid: r.uid,
        })
    }))
}

/// An enum of names, read only from a JSON string.
pub(crate) fn string<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    deserializer.deserialize_str(StringForm(PhantomData))
}

struct ObjectForm<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectForm<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for ObjectForm<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_map(self)
    }
}

struct ListOfObjects<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ListOfObjects<T> {
    type Value = Vec<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element_seed(ObjectForm(PhantomData))? {
            items.push(item);
        }
        Ok(items)
    }
}

struct OptionalObject<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for OptionalObject<T> {
    type Value = Option<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object or null")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        object(deserializer).map(Some)
    }
}

struct StringForm<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for StringForm<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
        T::deserialize(StrDeserializer::<E>::new(text))
    }
}

#[cfg(test)]
mod tests {
    use crate::crd::{ApplicationSpec, Executor, ExecutorType};
    use serde_json::json;

    #[test]
    fn structs_read_only_from_objects() {
        let spec = json!({"chart": {"url": "https://x", "name": "a"}, "release": []});
        let error = serde_json::from_value::<ApplicationSpec>(spec).unwrap_err();
        assert!(error.to_string().contains("expected an object"), "{error}");
        let text = r#"{"chart": ["https://x", "a"], "release": {}}"#;
        assert!(serde_json::from_str::<ApplicationSpec>(text).is_err());
        let fine = r#"{"chart": {"url": "https://x", "name": "a"}, "release": {}}"#;
        assert!(serde_json::from_str::<ApplicationSpec>(fine).is_ok());
    }

    #[test]
    fn secret_references_refuse_unknown_fields_and_arrays() {
        use crate::crd::ChartRef;
        let read = |reference: serde_json::Value| {
            serde_json::from_value::<ChartRef>(
                json!({"url": "https://x", "name": "a", "authSecretRef": reference}),
            )
        };
        let chart = read(json!({"name": "creds", "namespace": "orkestra"})).unwrap();
        assert_eq!(
            chart.auth_secret_ref.unwrap().name.as_deref(),
            Some("creds")
        );
        assert_eq!(read(serde_json::Value::Null).unwrap().auth_secret_ref, None);
        assert!(read(json!({"name": "creds", "nmespace": "orkestra"})).is_err());
        assert!(read(json!(["creds"])).is_err());
    }

    #[test]
    fn enums_read_only_from_strings() {
        let executor = json!({"name": "e", "type": {"custom": null}});
        assert!(serde_json::from_value::<Executor>(executor).is_err());
        let executor: Executor =
            serde_json::from_str(r#"{"name": "e", "type": "custom"}"#).unwrap();
        assert_eq!(executor.executor_type, ExecutorType::Custom);
        assert!(serde_json::from_str::<Executor>(r#"{"name": "e", "type": "Custom"}"#).is_err());
    }
}
