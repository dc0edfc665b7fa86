//! The AdmissionReview answer as it goes on the wire.
//!
//! The Kubernetes API documents `response.patch` as base64 text (Go's `[]byte` in JSON). kube-rs
//! keeps it as `Vec<u8>`, which serde writes as an array of numbers (kube-rs issue 1781): Go's
//! decoder happens to take that too, but the API does not promise it. So a patched answer is
//! written with the patch as base64; an answer without a patch (every validation, every group that
//! is already defaulted) is written directly.

use base64::Engine as _;
use kube::core::DynamicObject;
use kube::core::admission::AdmissionReview;

/// The JSON body for `review`, with `response.patch` as base64 text.
pub fn to_json(review: &AdmissionReview<DynamicObject>) -> serde_json::Result<Vec<u8>> {
    let patch = review.response.as_ref().and_then(|r| r.patch.as_deref());
    let Some(patch) = patch else {
        return serde_json::to_vec(review);
    };
    let mut value = serde_json::to_value(review)?;
    if let Some(response) = value.get_mut("response") {
        response["patch"] = base64::engine::general_purpose::STANDARD
            .encode(patch)
            .into();
    }
    serde_json::to_vec(&value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::admission::AdmissionResponse;
    use serde_json::json;

    fn review(patch: Option<&str>) -> AdmissionReview<DynamicObject> {
        let request: AdmissionReview<DynamicObject> = serde_json::from_value(json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "u1", "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
                "resource": {"group": "", "version": "v1", "resource": "configmaps"},
                "operation": "CREATE", "userInfo": {}, "name": "c",
                "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
            },
        }))
        .unwrap();
        let response = AdmissionResponse::from(&request.try_into().unwrap());
        let response = match patch {
            Some(p) => response
                .with_patch(serde_json::from_str(p).unwrap())
                .unwrap(),
            None => response,
        };
        response.into_review()
    }

    #[test]
    fn the_patch_goes_out_as_base64_text() {
        let patch = r#"[{"op":"add","path":"/data","value":{"a":"b"}}]"#;
        let body: serde_json::Value =
            serde_json::from_slice(&to_json(&review(Some(patch))).unwrap()).unwrap();
        let response = &body["response"];
        assert_eq!(response["patchType"], "JSONPatch");
        let text = response["patch"]
            .as_str()
            .expect("the patch is a JSON string");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap();
        let decoded: serde_json::Value = serde_json::from_slice(&decoded).unwrap();
        assert_eq!(
            decoded,
            serde_json::from_str::<serde_json::Value>(patch).unwrap()
        );
        assert_eq!(
            (response["uid"].as_str(), response["allowed"].as_bool()),
            (Some("u1"), Some(true))
        );
    }

    #[test]
    fn an_answer_without_a_patch_has_no_patch_field() {
        let body: serde_json::Value =
            serde_json::from_slice(&to_json(&review(None)).unwrap()).unwrap();
        assert!(body["response"].get("patch").is_none(), "{body}");
        assert_eq!(body["response"]["allowed"], true);
    }
}
