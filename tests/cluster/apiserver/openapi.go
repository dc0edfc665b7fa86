package main

// OpenAPI definitions: the apiextensions server's generated ones plus loose definitions for the
// core/v1 types served here. k8s.io/kubernetes' generated core definitions are not packaged in
// Debian; the core objects are therefore described as "metadata + anything", which is enough for
// /openapi/v2, /openapi/v3, kubectl and server-side apply (unknown fields are preserved).

import (
	corev1 "k8s.io/api/core/v1"
	generatedopenapi "k8s.io/apiextensions-apiserver/pkg/generated/openapi"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// modelNamer is implemented by every k8s.io/api type: its OpenAPI definition name.
type modelNamer interface{ OpenAPIModelName() string }

func openAPIDefinitions(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
	defs := generatedopenapi.GetOpenAPIDefinitions(ref)
	objectMeta := metav1.ObjectMeta{}.OpenAPIModelName()
	listMeta := metav1.ListMeta{}.OpenAPIModelName()
	types := []struct {
		kind       string
		item, list modelNamer
	}{
		{"Namespace", corev1.Namespace{}, corev1.NamespaceList{}},
		{"Secret", corev1.Secret{}, corev1.SecretList{}},
		{"ConfigMap", corev1.ConfigMap{}, corev1.ConfigMapList{}},
		{"Service", corev1.Service{}, corev1.ServiceList{}},
	}
	for _, t := range types {
		item := t.item.OpenAPIModelName()
		defs[item] = common.OpenAPIDefinition{
			Schema:       looseObject(t.kind+" (core/v1, served by the Orkestra test control plane).", ref, objectMeta),
			Dependencies: []string{objectMeta},
		}
		list := looseObject(t.kind+"List is a list of "+t.kind+" objects.", ref, listMeta)
		list.Properties["items"] = spec.Schema{SchemaProps: spec.SchemaProps{
			Type:  []string{"array"},
			Items: &spec.SchemaOrArray{Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Ref: ref(item)}}},
		}}
		list.Required = []string{"items"}
		defs[t.list.OpenAPIModelName()] = common.OpenAPIDefinition{Schema: list, Dependencies: []string{listMeta, item}}
	}
	return defs
}

func looseObject(description string, ref common.ReferenceCallback, meta string) spec.Schema {
	return spec.Schema{
		SchemaProps: spec.SchemaProps{
			Description: description,
			Type:        []string{"object"},
			Properties: map[string]spec.Schema{
				"apiVersion": {SchemaProps: spec.SchemaProps{Type: []string{"string"}}},
				"kind":       {SchemaProps: spec.SchemaProps{Type: []string{"string"}}},
				"metadata":   {SchemaProps: spec.SchemaProps{Ref: ref(meta)}},
			},
		},
		VendorExtensible: spec.VendorExtensible{Extensions: spec.Extensions{"x-kubernetes-preserve-unknown-fields": true}},
	}
}
