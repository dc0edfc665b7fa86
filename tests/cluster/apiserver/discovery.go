package main

// Root discovery (/apis). The standalone apiextensions server leaves /apis to the kube-aggregator,
// which does not run here, so this serves it: the unaggregated APIGroupList (what kube-rs and older
// clients read) built from the established CRDs plus apiextensions.k8s.io, and the aggregated form
// (what kubectl prefers) from the server's own aggregated discovery manager.

import (
	"net/http"
	"sort"

	apiextensionshelpers "k8s.io/apiextensions-apiserver/pkg/apihelpers"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	listers "k8s.io/apiextensions-apiserver/pkg/client/listers/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/apiserver/pkg/endpoints/discovery/aggregated"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
)

// rootDiscovery is completed after the server is built; requests only arrive after that.
type rootDiscovery struct {
	crds       listers.CustomResourceDefinitionLister
	aggregated http.Handler
	serializer runtime.NegotiatedSerializer
}

func (d *rootDiscovery) legacy(w http.ResponseWriter, req *http.Request) {
	versions := map[string]map[string]bool{"apiextensions.k8s.io": {"v1": true}}
	if d.crds != nil {
		crds, err := d.crds.List(labels.Everything())
		if err != nil {
			responsewriters.InternalError(w, req, err)
			return
		}
		for _, crd := range crds {
			if !apiextensionshelpers.IsCRDConditionTrue(crd, apiextensionsv1.Established) {
				continue
			}
			for _, v := range crd.Spec.Versions {
				if !v.Served {
					continue
				}
				if versions[crd.Spec.Group] == nil {
					versions[crd.Spec.Group] = map[string]bool{}
				}
				versions[crd.Spec.Group][v.Name] = true
			}
		}
	}
	names := make([]string, 0, len(versions))
	for n := range versions {
		names = append(names, n)
	}
	sort.Strings(names)
	list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, group := range names {
		vs := make([]string, 0, len(versions[group]))
		for v := range versions[group] {
			vs = append(vs, v)
		}
		// Highest Kubernetes-aware version first (v1 > v1beta2 > v1alpha1), as the API server orders them.
		sort.Slice(vs, func(i, j int) bool { return version.CompareKubeAwareVersionStrings(vs[i], vs[j]) > 0 })
		g := metav1.APIGroup{Name: group}
		for _, v := range vs {
			g.Versions = append(g.Versions, metav1.GroupVersionForDiscovery{GroupVersion: group + "/" + v, Version: v})
		}
		g.PreferredVersion = g.Versions[0]
		list.Groups = append(list.Groups, g)
	}
	responsewriters.WriteObjectNegotiated(d.serializer, negotiation.DefaultEndpointRestrictions, schema.GroupVersion{}, w, req, http.StatusOK, list, false)
}

func (d *rootDiscovery) handler() http.Handler {
	return aggregated.WrapAggregatedDiscoveryToHandler(http.HandlerFunc(d.legacy), d.aggregated, nil)
}
