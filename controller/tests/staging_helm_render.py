"""Pulls a staged chart from an OCI registry with Helm's own Go SDK (helm-python-sdk) and renders
it offline. The independent check for chart staging: if Helm can pull and render what Orkestra
pushed, Flux can too.

Usage: staging_helm_render.py oci://HOST/PATH/NAME VERSION VALUES_JSON
Prints JSON: {"metadata": Chart.yaml as Helm read it, "manifests": {template path: text}}.
"""

import json
import sys
import tempfile

import helm_python as helm


def main() -> None:
    ref, version, values = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    with tempfile.TemporaryDirectory() as dest:
        helm.pull(ref, version=version, destination=dest, plain_http=True)
        name = ref.rsplit("/", 1)[1]
        with helm.Chart.load(f"{dest}/{name}-{version}.tgz") as chart:
            manifests = chart.render(values, name="rel", namespace="ns")
            print(json.dumps({"metadata": chart.metadata, "manifests": manifests}))


if __name__ == "__main__":
    main()
