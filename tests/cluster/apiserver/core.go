package main

// The core/v1 slice this control plane serves: Namespaces, Secrets, ConfigMaps and Services, stored
// in etcd through the upstream generic registry. The apiextensions server has no core group at all;
// the controller and the tests need Namespaces and Secrets, and the webhook admission plugin needs a
// Services lister.
//
// NB: there are no internal types here. The k8s.io/api v1 Go types are registered as the internal
// version too, so "conversion" is the identity and the generic machinery works unchanged.

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/names"
)

var (
	coreScheme = runtime.NewScheme()
	coreCodecs = serializer.NewCodecFactory(coreScheme)
)

// coreResource describes one served core/v1 resource.
type coreResource struct {
	resource   string
	singular   string
	shortNames []string
	namespaced bool
	newObj     func() runtime.Object
	newList    func() runtime.Object
	// prepare fills what the real API server's defaulting and strategies fill on create.
	prepare func(obj runtime.Object)
}

var coreResources = []coreResource{
	{
		resource: "namespaces", singular: "namespace", shortNames: []string{"ns"}, namespaced: false,
		newObj: func() runtime.Object { return &corev1.Namespace{} }, newList: func() runtime.Object { return &corev1.NamespaceList{} },
		prepare: func(obj runtime.Object) {
			ns := obj.(*corev1.Namespace)
			// No namespace controller runs here, so no "kubernetes" finalizer: deletion is immediate.
			ns.Spec.Finalizers = nil
			ns.Status.Phase = corev1.NamespaceActive
			if ns.Labels == nil {
				ns.Labels = map[string]string{}
			}
			ns.Labels["kubernetes.io/metadata.name"] = ns.Name
		},
	},
	{
		resource: "secrets", singular: "secret", namespaced: true,
		newObj: func() runtime.Object { return &corev1.Secret{} }, newList: func() runtime.Object { return &corev1.SecretList{} },
		prepare: func(obj runtime.Object) {
			s := obj.(*corev1.Secret)
			if s.Type == "" {
				s.Type = corev1.SecretTypeOpaque
			}
			// stringData is write-only: merged into data, as the real API server does.
			for k, v := range s.StringData {
				if s.Data == nil {
					s.Data = map[string][]byte{}
				}
				s.Data[k] = []byte(v)
			}
			s.StringData = nil
		},
	},
	{
		resource: "configmaps", singular: "configmap", shortNames: []string{"cm"}, namespaced: true,
		newObj: func() runtime.Object { return &corev1.ConfigMap{} }, newList: func() runtime.Object { return &corev1.ConfigMapList{} },
	},
	{
		resource: "services", singular: "service", shortNames: []string{"svc"}, namespaced: true,
		newObj: func() runtime.Object { return &corev1.Service{} }, newList: func() runtime.Object { return &corev1.ServiceList{} },
		prepare: func(obj runtime.Object) {
			s := obj.(*corev1.Service)
			if s.Spec.Type == "" {
				s.Spec.Type = corev1.ServiceTypeClusterIP
			}
		},
	},
}

func init() {
	v1 := corev1.SchemeGroupVersion
	internal := schema.GroupVersion{Group: "", Version: runtime.APIVersionInternal}
	for _, r := range coreResources {
		coreScheme.AddKnownTypes(v1, r.newObj(), r.newList())
		coreScheme.AddKnownTypes(internal, r.newObj(), r.newList())
	}
	metav1.AddToGroupVersion(coreScheme, v1)
	coreScheme.AddUnversionedTypes(schema.GroupVersion{Group: "", Version: "v1"},
		&metav1.Status{}, &metav1.APIVersions{}, &metav1.APIGroupList{}, &metav1.APIGroup{}, &metav1.APIResourceList{})
}

// coreStrategy is the create/update/delete strategy shared by every served core resource.
type coreStrategy struct {
	runtime.ObjectTyper
	names.NameGenerator
	r coreResource
}

func (s coreStrategy) NamespaceScoped() bool { return s.r.namespaced }
func (s coreStrategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	if s.r.prepare != nil {
		s.r.prepare(obj)
	}
}
func (s coreStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	nameFn := apimachineryvalidation.NameIsDNSSubdomain
	if s.r.resource == "namespaces" || s.r.resource == "services" {
		nameFn = apimachineryvalidation.NameIsDNSLabel
	}
	return apimachineryvalidation.ValidateObjectMetaAccessor(accessor, s.r.namespaced, nameFn, field.NewPath("metadata"))
}
func (coreStrategy) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }
func (coreStrategy) Canonicalize(runtime.Object)                               {}
func (coreStrategy) AllowCreateOnUpdate() bool                                 { return false }
func (s coreStrategy) PrepareForUpdate(_ context.Context, obj, _ runtime.Object) {
	if s.r.prepare != nil {
		s.r.prepare(obj)
	}
}
func (s coreStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	newMeta, err := meta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	oldMeta, err := meta.Accessor(old)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	return apimachineryvalidation.ValidateObjectMetaAccessorUpdate(newMeta, oldMeta, field.NewPath("metadata"))
}
func (coreStrategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}
func (coreStrategy) AllowUnconditionalUpdate() bool { return true }

// installCore serves /api/v1 on the given server, storing objects in etcd under /registry/core.
func installCore(s *genericapiserver.GenericAPIServer, optsGetter generic.RESTOptionsGetter) error {
	info := genericapiserver.NewDefaultAPIGroupInfo("", coreScheme, runtime.NewParameterCodec(coreScheme), coreCodecs)
	resources := map[string]rest.Storage{}
	for _, r := range coreResources {
		strategy := coreStrategy{ObjectTyper: coreScheme, NameGenerator: names.SimpleNameGenerator, r: r}
		attr := storage.DefaultNamespaceScopedAttr
		if !r.namespaced {
			attr = storage.DefaultClusterScopedAttr
		}
		gr := schema.GroupResource{Resource: r.resource}
		store := &genericregistry.Store{
			NewFunc:                   r.newObj,
			NewListFunc:               r.newList,
			DefaultQualifiedResource:  gr,
			SingularQualifiedResource: schema.GroupResource{Resource: r.singular},
			CreateStrategy:            strategy,
			UpdateStrategy:            strategy,
			DeleteStrategy:            strategy,
			TableConvertor:            rest.NewDefaultTableConvertor(gr),
		}
		if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter, AttrFunc: attr}); err != nil {
			return fmt.Errorf("core/v1 %s storage: %w", r.resource, err)
		}
		resources[r.resource] = &coreREST{Store: store, shortNames: r.shortNames}
	}
	info.VersionedResourcesStorageMap["v1"] = resources
	return s.InstallLegacyAPIGroup(genericapiserver.DefaultLegacyAPIPrefix, &info)
}

// coreREST adds the short names kubectl knows these resources by (`kubectl get ns`).
type coreREST struct {
	*genericregistry.Store
	shortNames []string
}

func (r *coreREST) ShortNames() []string { return r.shortNames }
