"""Pulls a staged chart from an OCI registry with Helm's own Go SDK (helm-python-sdk) and renders
it offline. The independent check for chart staging: if Helm can pull and render what Orkestra
pushed, Flux can too.

Usage: staging_helm_render.py oci://HOST/PATH/NAME VERSION VALUES_JSON
Prints JSON: {"metadata": Chart.yaml as Helm read it, "manifests": {template path: text}}.

       staging_helm_render.py --push CHART.tgz oci://HOST/PATH
Pushes an archive with Helm, so staging can be tested against charts Helm itself published.
"""

import json
import sys
import tempfile

import helm_python as helm


def main() -> None:
    if sys.argv[1] == "--push":
        print(json.dumps(helm.push(sys.argv[2], sys.argv[3], plain_http=True)))
        return
    ref, version, values = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    with tempfile.TemporaryDirectory() as dest:
        helm.pull(ref, version=version, destination=dest, plain_http=True)
        name = ref.rsplit("/", 1)[1]
        with helm.Chart.load(f"{dest}/{name}-{version}.tgz") as chart:
            manifests = chart.render(values, name="rel", namespace="ns")
            print(json.dumps({"metadata": chart.metadata, "manifests": manifests}))


if __name__ == "__main__":
    main()
