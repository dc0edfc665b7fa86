//! The Helm chart (chart/) rendered by the real Helm CLI (tests/chart/prereqs): it lints, every
//! rendered object is accepted by the shared test cluster's API server, bad values are refused
//! naming the key, and missing prerequisites are named.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chart_support;

#[allow(unused_imports)]
use chart_support::*;

use base64::Engine as _;
use orkestra_tests::Cluster;
use orkestra_tests::helm::Helm;
use serde_json::{Value, json};

#[test]
fn helm_lint_passes() {
    let helm = Helm::find().unwrap();
    let chart = Helm::chart();
    for sets in [
        vec!["prerequisites.check=false", STAGING],
        vec!["prerequisites.check=false", "staging.bundled.enabled=true"],
    ] {
        let mut args = vec![
            "lint".to_owned(),
            "--strict".into(),
            chart.display().to_string(),
        ];
        for set in sets {
            args.extend(["--set".into(), set.into()]);
        }
        let out = helm.run(&args).unwrap();
        assert!(
            out.success,
            "helm lint failed:\n{}{}",
            out.stdout, out.stderr
        );
        assert!(
            out.stdout.contains("1 chart(s) linted, 0 chart(s) failed"),
            "{}",
            out.stdout
        );
        assert!(
            !out.stdout.contains("[WARNING]") && !out.stdout.contains("[ERROR]"),
            "{}",
            out.stdout
        );
    }
}

#[tokio::test]
async fn generated_certificates_render_objects_the_api_server_accepts() {
    let cluster = Cluster::shared().await.unwrap();
    let helm = Helm::find().unwrap();
    let ns = cluster.namespace("chart-generate").await.unwrap();
    let objects = helm.template("ork", &ns, &[STAGING]).unwrap().unwrap();
    server_accepts(&cluster, &objects);

    // Two replicas of each component, the restricted security context, probes on the admin ports.
    let controller = find(&objects, "Deployment", "ork-orkestra-controller");
    let webhook = find(&objects, "Deployment", "ork-orkestra-webhook");
    for (deployment, args, port) in [(controller, "run", 8081), (webhook, "serve", 8080)] {
        assert_eq!(deployment["spec"]["replicas"], 2);
        let pod = &deployment["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        let container = &pod["containers"][0];
        assert_eq!(container["args"], json!([args]));
        assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(
            container["securityContext"]["allowPrivilegeEscalation"],
            false
        );
        assert_eq!(
            container["securityContext"]["capabilities"]["drop"],
            json!(["ALL"])
        );
        assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
        let admin = container["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "admin")
            .unwrap();
        assert_eq!(admin["containerPort"], port);
        assert!(container["resources"]["requests"].is_object());
        assert!(container["resources"]["limits"].is_object());
    }
    assert_eq!(
        env_of(controller, "ORKESTRA_ADMIN_ADDR"),
        Some("0.0.0.0:8081")
    );
    assert_eq!(
        env_of(controller, "ORKESTRA_STAGING_URL"),
        Some("oci://registry.example.com/orkestra/charts")
    );
    assert_eq!(
        env_of(controller, "ORKESTRA_WORKFLOW_NAMESPACE"),
        Some(ns.as_str())
    );
    assert_eq!(
        env_of(controller, "ORKESTRA_CHART_CACHE_MAX_BYTES"),
        Some("805306368")
    );
    assert_eq!(env_of(webhook, "MIMALLOC_ARENA_EAGER_COMMIT"), Some("0"));
    // The controller's ServiceAccount, the only requester that may set the last-successful
    // annotation.
    let controller_account = controller["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .unwrap();
    assert_eq!(
        env_of(webhook, "ORKESTRA_WEBHOOK_CONTROLLER_USERNAME"),
        Some(format!("system:serviceaccount:{ns}:{controller_account}").as_str())
    );
    assert_eq!(
        env_of(webhook, "ORKESTRA_WEBHOOK_POLICY"),
        Some("/etc/orkestra/policy/policy.yaml")
    );
    let policy = find(&objects, "ConfigMap", "ork-orkestra-webhook-policy");
    assert!(
        policy["data"]["policy.yaml"]
            .as_str()
            .unwrap()
            .contains("forbiddenNamespaces")
    );
    assert_eq!(
        find(&objects, "ServiceAccount", "orkestra-executor")["metadata"]["namespace"],
        ns.as_str()
    );
    assert!(of_kind(&objects, "HelmRepository").is_empty());

    // The generated CA signed a serving certificate naming the Service; both configurations carry
    // that CA and call the Service on /mutate and /validate.
    let tls = find(&objects, "Secret", "ork-orkestra-webhook-tls");
    let ca = secret_data(tls, "ca.crt");
    let (sans, verified) = certificate_check(&ca, &secret_data(tls, "tls.crt"));
    for name in [
        "ork-orkestra-webhook".to_owned(),
        format!("ork-orkestra-webhook.{ns}"),
        format!("ork-orkestra-webhook.{ns}.svc"),
    ] {
        assert!(
            sans.contains(&format!("DNS:{name},")) || sans.contains(&format!("DNS:{name}\n")),
            "{name} not in {sans}"
        );
    }
    assert!(verified.contains(": OK"), "{verified}");
    let configurations = webhook_configurations(&objects);
    assert_eq!(configurations.len(), 2);
    for configuration in configurations {
        let hook = &configuration["webhooks"][0];
        let path = if configuration["kind"] == "MutatingWebhookConfiguration" {
            "/mutate"
        } else {
            "/validate"
        };
        assert_eq!(hook["clientConfig"]["service"]["path"], path);
        assert_eq!(
            hook["clientConfig"]["service"]["name"],
            "ork-orkestra-webhook"
        );
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(hook["clientConfig"]["caBundle"].as_str().unwrap())
                .unwrap(),
            ca
        );
        assert_eq!(hook["failurePolicy"], "Fail");
        assert_eq!(hook["sideEffects"], "None");
        assert_eq!(hook["admissionReviewVersions"], json!(["v1"]));
        assert_eq!(hook["rules"][0]["operations"], json!(["CREATE", "UPDATE"]));
        assert_eq!(hook["rules"][0]["resources"], json!(["applicationgroups"]));
    }
}

#[tokio::test]
async fn bundled_registry_and_webhook_url_render_objects_the_api_server_accepts() {
    let cluster = Cluster::shared().await.unwrap();
    let helm = Helm::find().unwrap();
    let ns = cluster.namespace("chart-bundled").await.unwrap();
    let objects = helm
        .template(
            "ork",
            &ns,
            &[
                "staging.bundled.enabled=true",
                "webhook.url=https://127.0.0.1:9443",
            ],
        )
        .unwrap()
        .unwrap();
    server_accepts(&cluster, &objects);

    let registry = find(&objects, "Deployment", "ork-orkestra-registry");
    assert_eq!(
        registry["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry:2"
    );
    find(&objects, "PersistentVolumeClaim", "ork-orkestra-registry");
    // Only the controller's pods and Flux's namespace reach the registry (it takes no credentials).
    let policy = find(&objects, "NetworkPolicy", "ork-orkestra-registry");
    let registry_pods = &registry["spec"]["template"]["metadata"]["labels"];
    for (key, value) in policy["spec"]["podSelector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(&registry_pods[key], value, "{policy}");
    }
    let from = &policy["spec"]["ingress"][0]["from"];
    let controller_pods = &find(&objects, "Deployment", "ork-orkestra-controller")["spec"]["template"]
        ["metadata"]["labels"];
    let controller_selector = from[0]["podSelector"]["matchLabels"].as_object().unwrap();
    assert!(!controller_selector.is_empty());
    for (key, value) in controller_selector {
        assert_eq!(&controller_pods[key], value, "{policy}");
    }
    assert_ne!(controller_selector, registry_pods.as_object().unwrap());
    assert_eq!(
        from[1]["namespaceSelector"]["matchLabels"],
        json!({"kubernetes.io/metadata.name": "flux-system"})
    );
    assert_eq!(from.as_array().unwrap().len(), 2, "{policy}");
    let host = format!("ork-orkestra-registry.{ns}.svc:5000");
    let controller = find(&objects, "Deployment", "ork-orkestra-controller");
    assert_eq!(
        env_of(controller, "ORKESTRA_STAGING_URL"),
        Some(format!("oci://{host}/charts").as_str())
    );
    assert_eq!(
        env_of(controller, "ORKESTRA_INSECURE_REGISTRIES"),
        Some(host.as_str())
    );

    // webhook.url: the configurations call it, and the certificate names its host (an IP here).
    for configuration in webhook_configurations(&objects) {
        let client = &configuration["webhooks"][0]["clientConfig"];
        assert!(client.get("service").is_none());
        let url = client["url"].as_str().unwrap();
        assert!(
            url == "https://127.0.0.1:9443/mutate" || url == "https://127.0.0.1:9443/validate",
            "{url}"
        );
    }
    let tls = find(&objects, "Secret", "ork-orkestra-webhook-tls");
    let (sans, _) = certificate_check(&secret_data(tls, "ca.crt"), &secret_data(tls, "tls.crt"));
    assert!(sans.contains("IP Address:127.0.0.1"), "{sans}");

    // And without the bundled registry there is none.
    let without = helm.template("ork", &ns, &[STAGING]).unwrap().unwrap();
    assert!(
        !names(&without).iter().any(|n| n.contains("registry")),
        "{:?}",
        names(&without)
    );
}

/// The executor's ServiceAccount carries `workflow.executor.imagePullSecrets`, so workflow pods can
/// pull a private executor image; one webhook replica gets no disruption budget (a budget of one
/// would block every drain of its node); `listenAddress=[::]` makes every listener bind IPv6.
#[tokio::test]
async fn pull_secrets_one_webhook_replica_and_ipv6_listeners_render_objects_the_api_server_accepts()
{
    let cluster = Cluster::shared().await.unwrap();
    let helm = Helm::find().unwrap();
    let ns = cluster.namespace("chart-pull").await.unwrap();
    let objects = helm
        .template(
            "ork",
            &ns,
            &[
                STAGING,
                "workflow.executor.imagePullSecrets={regcred}",
                "webhook.replicas=1",
                "listenAddress=[::]",
            ],
        )
        .unwrap()
        .unwrap();
    server_accepts(&cluster, &objects);
    let webhook = find(&objects, "Deployment", "ork-orkestra-webhook");
    let controller = find(&objects, "Deployment", "ork-orkestra-controller");
    for (deployment, variable, port) in [
        (webhook, "ORKESTRA_WEBHOOK_LISTEN", 8443),
        (webhook, "ORKESTRA_WEBHOOK_ADMIN_LISTEN", 8080),
        (controller, "ORKESTRA_ADMIN_ADDR", 8081),
    ] {
        let address = env_of(deployment, variable).unwrap();
        assert_eq!(address, format!("[::]:{port}"));
        let parsed: std::net::SocketAddr = address.parse().unwrap();
        assert!(
            parsed.is_ipv6() && parsed.ip().is_unspecified(),
            "{address}"
        );
    }
    let account = find(&objects, "ServiceAccount", "orkestra-executor");
    assert_eq!(account["imagePullSecrets"], json!([{"name": "regcred"}]));
    assert!(of_kind(&objects, "PodDisruptionBudget").is_empty());

    let defaults = helm.template("ork", &ns, &[STAGING]).unwrap().unwrap();
    let account = find(&defaults, "ServiceAccount", "orkestra-executor");
    assert!(account.get("imagePullSecrets").is_none(), "{account}");
    let budget = find(&defaults, "PodDisruptionBudget", "ork-orkestra-webhook");
    assert_eq!(budget["spec"]["minAvailable"], 1);
}

/// A group outside `webhook.objectSelector` skips admission (the policy, the Secret check), so
/// unless `controller.groupSelector` is set, the controller selects the same groups: the selector
/// written as a label selector string, which the API server accepts for a LIST of groups.
#[tokio::test]
async fn the_controller_selects_only_the_groups_the_webhook_sees() {
    let cluster = Cluster::shared().await.unwrap();
    let helm = Helm::find().unwrap();
    let ns = cluster.namespace("chart-selector").await.unwrap();
    let webhook_selector = [
        STAGING,
        "webhook.objectSelector.matchLabels.team=a",
        "webhook.objectSelector.matchExpressions[0].key=tier",
        "webhook.objectSelector.matchExpressions[0].operator=In",
        "webhook.objectSelector.matchExpressions[0].values={x,y}",
        "webhook.objectSelector.matchExpressions[1].key=legacy",
        "webhook.objectSelector.matchExpressions[1].operator=DoesNotExist",
    ];
    let objects = helm
        .template("ork", &ns, &webhook_selector)
        .unwrap()
        .unwrap();
    server_accepts(&cluster, &objects);
    let controller = find(&objects, "Deployment", "ork-orkestra-controller");
    let selector = env_of(controller, "ORKESTRA_GROUP_SELECTOR").unwrap();
    assert_eq!(selector, "team=a,tier in (x,y),!legacy");
    let groups: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(
        cluster.client().await.unwrap(),
        &kube::core::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk(
                "orkestra.azure.microsoft.com",
                "v1alpha1",
                "ApplicationGroup",
            ),
            "applicationgroups",
        ),
    );
    groups
        .list(&kube::api::ListParams::default().labels(selector))
        .await
        .unwrap();

    // controller.groupSelector, when set, is the controller's; neither set: every group.
    let mut both = webhook_selector.to_vec();
    both.push("controller.groupSelector=shard=1");
    let objects = helm.template("ork", &ns, &both).unwrap().unwrap();
    let controller = find(&objects, "Deployment", "ork-orkestra-controller");
    assert_eq!(
        env_of(controller, "ORKESTRA_GROUP_SELECTOR"),
        Some("shard=1")
    );
    let objects = helm.template("ork", &ns, &[STAGING]).unwrap().unwrap();
    let controller = find(&objects, "Deployment", "ork-orkestra-controller");
    assert_eq!(env_of(controller, "ORKESTRA_GROUP_SELECTOR"), None);
}

#[tokio::test]
async fn cert_manager_and_secret_modes_render_objects_the_api_server_accepts() {
    let cluster = Cluster::shared().await.unwrap();
    let helm = Helm::find().unwrap();
    let ns = cluster.namespace("chart-certs").await.unwrap();

    // certManager: every object, cert-manager's Issuers and Certificates included (the harness
    // installs cert-manager's CRDs), is checked by the API server, and cert-manager's by content.
    let mut sets = vec![STAGING, "webhook.certificates.mode=certManager"];
    let refused = helm.template("ork", &ns, &sets).unwrap().unwrap_err();
    assert!(
        refused.contains("cert-manager is not installed"),
        "{refused}"
    );
    sets.push("prerequisites.check=false");
    let objects = helm.template("ork", &ns, &sets).unwrap().unwrap();
    let (cert_manager, core): (Vec<Value>, Vec<Value>) = objects.into_iter().partition(|o| {
        o["apiVersion"]
            .as_str()
            .unwrap()
            .starts_with("cert-manager.io/")
    });
    let mut issued = names(&cert_manager);
    issued.sort();
    assert_eq!(
        issued,
        [
            "Certificate/ork-orkestra-webhook",
            "Certificate/ork-orkestra-webhook-ca",
            "Issuer/ork-orkestra-ca",
            "Issuer/ork-orkestra-selfsigned",
        ]
    );
    let certificate = find(&cert_manager, "Certificate", "ork-orkestra-webhook");
    assert_eq!(
        certificate["spec"]["secretName"],
        "ork-orkestra-webhook-tls"
    );
    assert_eq!(certificate["spec"]["issuerRef"]["name"], "ork-orkestra-ca");
    assert!(
        certificate["spec"]["dnsNames"]
            .as_array()
            .unwrap()
            .contains(&json!(format!("ork-orkestra-webhook.{ns}.svc")))
    );
    assert!(
        of_kind(&core, "Secret").is_empty(),
        "cert-manager writes the Secret"
    );
    for configuration in webhook_configurations(&core) {
        assert_eq!(
            configuration["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            format!("{ns}/ork-orkestra-webhook")
        );
        assert!(
            configuration["webhooks"][0]["clientConfig"]
                .get("caBundle")
                .is_none()
        );
    }
    server_accepts(&cluster, &core);
    server_accepts(&cluster, &cert_manager);

    // certManager with an issuer of the user's: no Issuer of the chart's own.
    let objects = helm
        .template(
            "ork",
            &ns,
            &[
                STAGING,
                "prerequisites.check=false",
                "webhook.certificates.mode=certManager",
                "webhook.certificates.certManager.issuerRef.name=corp-ca",
                "webhook.certificates.certManager.issuerRef.kind=ClusterIssuer",
            ],
        )
        .unwrap()
        .unwrap();
    assert!(of_kind(&objects, "Issuer").is_empty());
    let certificate = find(&objects, "Certificate", "ork-orkestra-webhook");
    assert_eq!(
        certificate["spec"]["issuerRef"],
        json!({"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"})
    );

    // secret: the user's Secret is mounted and the given caBundle is used as it is.
    let ca_bundle = base64::engine::general_purpose::STANDARD
        .encode("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    let ca_set = format!("webhook.certificates.secret.caBundle={ca_bundle}");
    let objects = helm
        .template(
            "ork",
            &ns,
            &[
                STAGING,
                "webhook.certificates.mode=secret",
                "webhook.certificates.secret.name=corp-webhook-tls",
                &ca_set,
            ],
        )
        .unwrap()
        .unwrap();
    assert!(of_kind(&objects, "Secret").is_empty());
    let webhook = find(&objects, "Deployment", "ork-orkestra-webhook");
    assert_eq!(
        webhook["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"],
        "corp-webhook-tls"
    );
    for configuration in webhook_configurations(&objects) {
        assert_eq!(
            configuration["webhooks"][0]["clientConfig"]["caBundle"],
            ca_bundle.as_str()
        );
    }
    server_accepts(&cluster, &objects);

    // secret without a Secret name is refused with the key to set.
    let refused = helm
        .template("ork", &ns, &[STAGING, "webhook.certificates.mode=secret"])
        .unwrap()
        .unwrap_err();
    assert!(refused.contains("webhook/certificates/secret"), "{refused}");
}

#[test]
fn bad_values_are_refused_naming_the_key() {
    let helm = Helm::find().unwrap();
    for (set, key) in [
        ("controller.replicas=-1", "/controller/replicas"),
        ("controller.replicas=0", "/controller/replicas"),
        ("controller.replicaz=2", "replicaz"),
        ("bogus=1", "bogus"),
        ("staging.url=registry.example.com/charts", "/staging/url"),
        ("staging.url=ftp://registry.example.com", "/staging/url"),
        (
            "webhook.certificates.mode=self",
            "/webhook/certificates/mode",
        ),
        // Values the binaries would refuse at start, or that would render a broken object.
        ("webhook.reloadInterval=500us", "/webhook/reloadInterval"),
        ("webhook.reloadInterval=50ms", "/webhook/reloadInterval"),
        ("controller.lease.renew=500000us", "/controller/lease/renew"),
        (
            "webhook.policy.allowedChartRepositories={https://charts.example.com.}",
            "/webhook/policy/allowedChartRepositories/0",
        ),
        (
            "webhook.policy.allowedChartRepositories={https://charts.example.com/?token=1}",
            "/webhook/policy/allowedChartRepositories/0",
        ),
        ("staging.bundled.image.tag=", "/staging/bundled/image/tag"),
        ("test.image.tag=", "/test/image/tag"),
    ] {
        let refused = helm
            .template("ork", "orkestra", &[STAGING, set])
            .unwrap()
            .expect_err(set);
        assert!(
            refused.contains("values don't meet the specifications of the schema"),
            "{set}: {refused}"
        );
        assert!(
            refused.contains(key),
            "{set}: the message does not name {key}: {refused}"
        );
    }
    // No staging repository at all: the message says which values to set.
    let refused = helm.template("ork", "orkestra", &[]).unwrap().unwrap_err();
    assert!(
        refused.contains("staging.url is required") && refused.contains("staging.bundled.enabled"),
        "{refused}"
    );
}

#[test]
fn missing_argo_or_flux_is_refused_unless_the_check_is_off() {
    let helm = Helm::find().unwrap();
    let chart = Helm::chart().display().to_string();
    let template = |extra: &[&str]| {
        let mut args = vec!["template", "ork", chart.as_str(), "--set", STAGING];
        args.extend(extra);
        helm.run(args).unwrap()
    };
    for (extra, refusal) in [
        (&[][..], "Argo Workflows is not installed"),
        (
            &["--api-versions", "argoproj.io/v1alpha1/Workflow"][..],
            "Flux helm-controller is not installed",
        ),
    ] {
        let out = template(extra);
        assert!(!out.success);
        assert!(out.stderr.contains(refusal), "{}", out.stderr);
    }
    let out = template(&["--set", "prerequisites.check=false"]);
    assert!(out.success, "{}", out.stderr);
}
