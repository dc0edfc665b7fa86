//! Prints the ApplicationGroup CRD generated from the Rust types, as YAML.
//! `cargo run -p orkestra-shared --bin crdgen > chart/crds/applicationgroups.yaml`

fn main() {
    print!("{}", orkestra_shared::crd_yaml());
}
