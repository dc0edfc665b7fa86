//! Bad input over real TLS: each gets the right answer, and the server keeps serving good requests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use orkestra_webhook::limits::Limits;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

const UID: &str = "705ab4f5-6393-11e8-b7cc-42010a800002";

/// What a case must get back.
enum Expect {
    /// HTTP 400 with a denying AdmissionReview that has no uid to carry.
    BadRequest,
    /// HTTP 200, a denying AdmissionReview with the request's uid, the message containing this.
    Denied(&'static str),
    /// HTTP 200, allowed, no patch.
    Allowed,
    /// Just this HTTP status.
    Status(u16),
}

fn cases() -> Vec<(&'static str, &'static str, Vec<u8>, Expect)> {
    let good = valid_review();
    let mut wrong_version = create(group("bookinfo", vec![app("web", &[])]));
    wrong_version["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let mut pod =
        create(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}));
    pod["request"]["kind"] = json!({"group": "", "version": "v1", "kind": "Pod"});
    let not_a_group = create(json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": 5}}));
    let string_object = create(json!("not an object"));
    let mut no_operation = create(group("bookinfo", vec![app("web", &[])]));
    no_operation["request"]
        .as_object_mut()
        .unwrap()
        .remove("operation");
    let mut no_object = create(group("bookinfo", vec![app("web", &[])]));
    no_object["request"]
        .as_object_mut()
        .unwrap()
        .remove("object");
    let delete = review(
        "DELETE",
        None,
        Some(group("bookinfo", vec![app("web", &[])])),
    );
    // As the API server writes it (Go field order: uid first), cut off in the object.
    let truncated = format!(
        r#"{{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{{"uid":"{UID}","kind":{{"group":"orkestra.azure.microsoft.com","version":"v1alpha1","kind":"ApplicationGroup"}},"operation":"CREATE","object":{{"apiVersion":"orkestra.azure.microsoft.com/v1alpha1","kind":"ApplicationGroup","spec":{{"applications":[{{"name":"we"#
    )
    .into_bytes();
    let huge = {
        let mut review = create(group("bookinfo", vec![app("web", &[])]));
        review["request"]["object"]["spec"]["applications"][0]["spec"]["release"]["values"] =
            json!({"blob": "x".repeat(4 * 1024 * 1024)});
        serde_json::to_vec(&review).unwrap()
    };
    let v = |value: Value| serde_json::to_vec(&value).unwrap();
    vec![
        (
            "/validate",
            "not JSON",
            b"hello, webhook".to_vec(),
            Expect::BadRequest,
        ),
        ("/mutate", "empty body", Vec::new(), Expect::BadRequest),
        (
            "/validate",
            "JSON that is not a review",
            v(json!({"foo": 1})),
            Expect::BadRequest,
        ),
        (
            "/mutate",
            "a JSON array",
            v(json!([1, 2, 3])),
            Expect::BadRequest,
        ),
        (
            "/validate",
            "a review with no request",
            v(json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"})),
            Expect::BadRequest,
        ),
        (
            "/validate",
            "the wrong apiVersion",
            v(wrong_version),
            Expect::Denied("apiVersion"),
        ),
        ("/mutate", "another kind", v(pod.clone()), Expect::Allowed),
        ("/validate", "another kind", v(pod), Expect::Allowed),
        (
            "/mutate",
            "an object that is not an ApplicationGroup",
            v(not_a_group.clone()),
            Expect::Denied(""),
        ),
        (
            "/validate",
            "an object that is not an ApplicationGroup",
            v(not_a_group),
            Expect::Denied(""),
        ),
        (
            "/validate",
            "an object that is a string",
            v(string_object),
            Expect::Denied(""),
        ),
        (
            "/validate",
            "a request without operation",
            v(no_operation),
            Expect::Denied("operation"),
        ),
        (
            "/mutate",
            "a CREATE without object",
            v(no_object),
            Expect::Denied("no object"),
        ),
        ("/validate", "a DELETE", v(delete), Expect::Allowed),
        (
            "/validate",
            "a truncated body",
            truncated.clone(),
            Expect::Denied("not JSON"),
        ),
        (
            "/mutate",
            "a truncated body",
            truncated,
            Expect::Denied("not JSON"),
        ),
        ("/validate", "a 4 MiB body", huge, Expect::Status(413)),
        (
            "/nowhere",
            "an unknown path",
            good.clone(),
            Expect::Status(404),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_its_answer_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, server) = server_with_fresh_certs(dir.path(), Limits::default()).await;
    let config = client_config(ca.der(), &[]);
    let good = valid_review();
    for (path, case, body, expect) in cases() {
        let answer = post(server.tls_addr, config.clone(), path, &body)
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        match expect {
            Expect::BadRequest => {
                assert_eq!(answer.status, 400, "{case}");
                let review = answer.json();
                assert_eq!(review["response"]["allowed"], false, "{case}");
                assert_eq!(review["response"]["uid"], "", "{case}");
            }
            Expect::Denied(needle) => {
                assert_eq!(answer.status, 200, "{case}");
                let review = answer.json();
                assert_eq!(review["kind"], "AdmissionReview", "{case}");
                assert_eq!(review["apiVersion"], "admission.k8s.io/v1", "{case}");
                assert_eq!(review["response"]["uid"], UID, "{case}");
                assert_eq!(review["response"]["allowed"], false, "{case}");
                let message = review["response"]["status"]["message"].as_str().unwrap();
                assert!(
                    !message.is_empty() && message.contains(needle),
                    "{case}: {message}"
                );
            }
            Expect::Allowed => {
                assert_eq!(answer.status, 200, "{case}");
                let review = answer.json();
                assert_eq!(review["response"]["uid"], UID, "{case}");
                assert_eq!(review["response"]["allowed"], true, "{case}");
                assert!(review["response"].get("patch").is_none(), "{case}");
            }
            Expect::Status(status) => assert_eq!(answer.status, status, "{case}"),
        }
        let after = post(server.tls_addr, config.clone(), "/validate", &good)
            .await
            .unwrap();
        assert_eq!(after.status, 200, "after {case}");
        assert_eq!(after.json()["response"]["allowed"], true, "after {case}");
    }

    // A body that ends before its Content-Length: the client hangs up mid-request.
    let mut tls = tls_connect(server.tls_addr, config.clone()).await.unwrap();
    tls.write_all(b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n\r\n{\"apiVersion\":").await.unwrap();
    tls.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(tls);
    let after = post(server.tls_addr, config, "/validate", &good)
        .await
        .unwrap();
    assert_eq!(after.status, 200);
    let (_, metrics) = admin_get(server.admin_addr, "/metrics").await;
    assert!(metrics.contains(r#"orkestra_webhook_reviews_total{endpoint="validate",operation="unknown",result="invalid"}"#), "{metrics}");
    server.stop().await;
}
