//! Chart staging (issue 5): the controller's first step for a new generation of a group.
//!
//! The folders follow the flow, which [`stager`] drives for each application:
//! - [`source`]: where charts come from. Resolve the chart version against its repository
//!   (HTTP(S) `index.yaml` or OCI tags) and fetch the archive through a content-addressed
//!   [`cache`].
//! - [`prepare`]: what is done to them. Split the subcharts listed in `spec.subcharts` into
//!   standalone charts, check the release values against each chart's `values.schema.json`,
//!   repackage deterministically.
//! - [`target`]: where they go. Push to the staging repository, an OCI registry or ChartMuseum.
//!
//! The outcome per application and subchart ([`outcome`]) maps onto the group's
//! `status.applications`. Beside the flow: [`credentials`], size [`limits`], [`plain_http`], the
//! registry API client both source and target use ([`oci_client`]), and the offline `stage`
//! command ([`cli`]).
//!
//! Independent of the reconciler: no Kubernetes calls. Credentials are resolved by the caller
//! ([`Credentials::from_secret_data`] for a Secret; [`CredentialsMap`] for the CLI).
//!
//! Decisions worth knowing:
//! - Once an application lists any subchart, every bundled application subchart the parent
//!   leaves on is split, as Azure Orkestra did; the plan gives the unlisted ones releases without
//!   dependencies ([`prepare::split`]). An application that lists none is deployed whole.
//! - A split subchart keeps its own version; its staged name comes from
//!   [`staged_chart_name`] (shared with the plan).
//! - An archive whose Chart.yaml name differs from `chart.name` is refused: the staged chart is
//!   pushed under its Chart.yaml name, and the plan refers to it by `chart.name`.
//! - Loopback OCI registries (`localhost` and literal loopback addresses) are spoken to over
//!   plain HTTP, all others over HTTPS unless named with `--insecure-registry` ([`plain_http`]).
//! - A split subchart keeps its own version, so two versions of one umbrella chart bundling the
//!   same subchart version with different parent values would stage different content under one
//!   tag: OCI moves the tag (last stage wins), ChartMuseum refuses (`push_refused`).
//! - Registry auth: credentials are sent as basic auth up front; a `Bearer` challenge is answered
//!   by fetching a token from the realm (with the basic credentials) per repository scope. Both
//!   are tested against docker-registry (htpasswd; token auth with a test token server).
//! - The ChartMuseum push is tested against the real ChartMuseum (v0.16.3, built from its Go
//!   module; controller/tests/staging_chartmuseum.rs). A staging URL with a path is a multitenant
//!   ChartMuseum's repository (API `/api/<tenant>/charts`, as `helm cm-push` computes it), else
//!   the server's `--context-path`; an upload answered 409 (the version is stored but not yet
//!   indexed by this replica) is compared with the stored archive ([`target::chartmuseum`]).
//! - Credentials are sent to an index's archive URLs only on the repository's own host.
//! - An archive already split and packaged for the same subcharts is reused, and pushed again
//!   only when its last push is older than a minute ([`prepare::reuse`]): groups sharing charts stage
//!   them once.
//! - Every network read is bounded ([`limits`]); archive limits default to Helm's (20 MiB archive,
//!   100 MiB decompressed, 5 MiB per file).

pub mod cache;
pub mod cli;
pub mod credentials;
pub mod error;
pub mod limits;
pub mod oci_client;
pub mod outcome;
pub mod plain_http;
pub mod prepare;
pub mod source;
pub mod stager;
pub mod target;

pub use credentials::{Credentials, CredentialsMap};
pub use error::{ApplicationError, StagingError};
pub use limits::Limits;
pub use orkestra_shared::names::staged_chart_name;
pub use outcome::{ApplicationStaging, StagedChart};
pub use plain_http::PlainHttp;
pub use stager::{Stager, StagerConfig};
