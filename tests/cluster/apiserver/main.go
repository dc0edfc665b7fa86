// Command orkestra-test-apiserver is the Orkestra test control plane's API server: the upstream
// standalone apiextensions-apiserver (CRDs with the real schema, defaulting, CEL, status,
// server-side apply, watch and admission webhook machinery) plus what a kube-apiserver adds around
// it that the tests need: root discovery (/apis), /openapi/v2 and /openapi/v3, a core/v1 slice
// (Namespaces, Secrets, ConfigMaps, Services), the bootstrap namespaces, a self-made PKI and an
// admin kubeconfig. See tests/README.md for what is and is not served.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	noopoteltrace "go.opentelemetry.io/otel/trace/noop"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiextensions-apiserver/pkg/apiserver"
	"k8s.io/apiextensions-apiserver/pkg/cmd/server/options"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	mutatingpolicy "k8s.io/apiserver/pkg/admission/plugin/policy/mutating"
	validatingpolicy "k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	mutatingwebhook "k8s.io/apiserver/pkg/admission/plugin/webhook/mutating"
	validatingwebhook "k8s.io/apiserver/pkg/admission/plugin/webhook/validating"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/apiserver/pkg/util/openapi"
	"k8s.io/apiserver/pkg/util/webhook"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/component-base/cli"
)

// bootstrapNamespaces are the namespaces kube-apiserver's bootstrap controller creates.
var bootstrapNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

type extraOptions struct {
	pkiDir            string
	kubeconfigOut     string
	admissionWebhooks bool
}

func main() {
	ctx := genericapiserver.SetupSignalContext()
	o := options.NewCustomResourceDefinitionsServerOptions(os.Stdout, os.Stderr)
	extra := extraOptions{admissionWebhooks: true}
	cmd := &cobra.Command{
		Use:   "orkestra-test-apiserver",
		Short: "Kubernetes API server for the Orkestra tests (apiextensions-apiserver + core/v1 slice)",
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return o.ServerRunOptions.ComponentGlobalsRegistry.Set()
		},
		RunE: func(c *cobra.Command, _ []string) error {
			return run(c.Context(), o, extra)
		},
	}
	cmd.SetContext(ctx)
	fs := cmd.Flags()
	o.AddFlags(fs)
	fs.StringVar(&extra.pkiDir, "pki-dir", "", "directory for the control plane's CA, serving and admin certificates (created when missing)")
	fs.StringVar(&extra.kubeconfigOut, "kubeconfig-out", "", "where to write the admin kubeconfig")
	fs.BoolVar(&extra.admissionWebhooks, "admission-webhooks", true, "enable the MutatingAdmissionWebhook and ValidatingAdmissionWebhook plugins (their configuration CRDs must exist: the plugins block every write until their informers sync)")
	os.Exit(cli.Run(cmd))
}

func run(ctx context.Context, o *options.CustomResourceDefinitionsServerOptions, extra extraOptions) error {
	if extra.pkiDir == "" || extra.kubeconfigOut == "" {
		return fmt.Errorf("--pki-dir and --kubeconfig-out are required")
	}
	p := pki{dir: extra.pkiDir}
	if err := p.ensure(); err != nil {
		return fmt.Errorf("creating the PKI in %s: %w", extra.pkiDir, err)
	}
	ro := o.RecommendedOptions
	ro.SecureServing.ServerCert.CertKey.CertFile = p.path("apiserver.crt")
	ro.SecureServing.ServerCert.CertKey.KeyFile = p.path("apiserver.key")
	ro.Authentication.ClientCert.ClientCA = p.path("ca.crt")
	// NB: there is no kube-apiserver to delegate TokenReview/SubjectAccessReview to: client
	// certificates authenticate, system:masters is authorized for everything, anyone else is denied.
	ro.Authentication.RemoteKubeConfigFileOptional = true
	ro.Authentication.SkipInClusterLookup = true
	ro.Authorization.RemoteKubeConfigFileOptional = true
	ro.Authorization.AlwaysAllowGroups = []string{"system:masters"}
	// Priority and fairness needs flowcontrol.apiserver.k8s.io, which is not served.
	ro.Features.EnablePriorityAndFairness = false
	// The core informers come from the loopback client below, not from a --kubeconfig.
	ro.CoreAPI = nil
	// Admission policies (CEL) need admissionregistration policy kinds that are not served.
	disabled := []string{validatingpolicy.PluginName, mutatingpolicy.PluginName}
	if !extra.admissionWebhooks {
		disabled = append(disabled, mutatingwebhook.PluginName, validatingwebhook.PluginName)
	}
	ro.Admission.DisablePlugins = append(ro.Admission.DisablePlugins, disabled...)

	if err := o.Complete(); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	config, disco, err := buildConfig(o)
	if err != nil {
		return err
	}
	server, err := config.Complete().New(genericapiserver.NewEmptyDelegate())
	if err != nil {
		return err
	}
	g := server.GenericAPIServer
	coreOpts := *ro.Etcd
	coreOpts.StorageConfig.Codec = coreCodecs.LegacyCodec(corev1.SchemeGroupVersion)
	coreOpts.StorageConfig.Prefix = "/registry/core"
	coreGetter := coreOpts.CreateRESTOptionsGetter(&genericoptions.SimpleStorageFactory{StorageConfig: coreOpts.StorageConfig}, config.GenericConfig.ResourceTransformers)
	if err := installCore(g, coreGetter); err != nil {
		return err
	}
	disco.crds = server.Informers.Apiextensions().V1().CustomResourceDefinitions().Lister()
	disco.aggregated = g.AggregatedDiscoveryGroupManager

	g.AddPostStartHookOrDie("orkestra-bootstrap-namespaces", func(hook genericapiserver.PostStartHookContext) error {
		return createBootstrapNamespaces(hook)
	})
	port := ro.SecureServing.BindPort
	if err := p.writeKubeconfig(extra.kubeconfigOut, port); err != nil {
		return fmt.Errorf("writing %s: %w", extra.kubeconfigOut, err)
	}
	fmt.Fprintf(os.Stderr, "orkestra-test-apiserver: admin kubeconfig at %s\n", filepath.Clean(extra.kubeconfigOut))
	return g.PrepareRun().RunWithContext(ctx)
}

// buildConfig is options.Config() with the loopback client as the core API client and the extra
// handlers (root discovery, OpenAPI v2) this control plane adds.
func buildConfig(o *options.CustomResourceDefinitionsServerOptions) (*apiserver.Config, *rootDiscovery, error) {
	ro := o.RecommendedOptions
	serverConfig := genericapiserver.NewRecommendedConfig(apiserver.Codecs)
	if err := o.ServerRunOptions.ApplyTo(&serverConfig.Config); err != nil {
		return nil, nil, err
	}
	steps := []func() error{
		func() error { return ro.Etcd.ApplyTo(&serverConfig.Config) },
		func() error { return ro.EgressSelector.ApplyTo(&serverConfig.Config) },
		func() error { return ro.Traces.ApplyTo(serverConfig.Config.EgressSelector, &serverConfig.Config) },
		func() error { return ro.SecureServing.ApplyToConfig(&serverConfig.Config) },
		func() error {
			return ro.Authentication.ApplyTo(&serverConfig.Config.Authentication, serverConfig.SecureServing, serverConfig.OpenAPIConfig)
		},
		func() error { return ro.Authorization.ApplyTo(&serverConfig.Config.Authorization) },
		func() error { return ro.Audit.ApplyTo(&serverConfig.Config) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, nil, err
		}
	}
	loopback := serverConfig.LoopbackClientConfig
	kubeClient, err := kubernetes.NewForConfig(loopback)
	if err != nil {
		return nil, nil, err
	}
	dynamicClient, err := dynamic.NewForConfig(loopback)
	if err != nil {
		return nil, nil, err
	}
	serverConfig.ClientConfig = loopback
	serverConfig.SharedInformerFactory = informers.NewSharedInformerFactory(kubeClient, 10*time.Minute)
	if err := ro.Features.ApplyTo(&serverConfig.Config, kubeClient, serverConfig.SharedInformerFactory); err != nil {
		return nil, nil, err
	}
	if err := ro.Admission.ApplyTo(&serverConfig.Config, serverConfig.SharedInformerFactory, kubeClient, dynamicClient, ro.FeatureGate, serverConfig.EffectiveVersion); err != nil {
		return nil, nil, err
	}
	if err := o.APIEnablement.ApplyTo(&serverConfig.Config, apiserver.DefaultAPIResourceConfigSource(), apiserver.Scheme); err != nil {
		return nil, nil, err
	}

	namer := openapinamer.NewDefinitionNamer(apiserver.Scheme, clientgoscheme.Scheme, coreScheme)
	defs := openapi.GetOpenAPIDefinitionsWithoutDisabledFeatures(openAPIDefinitions)
	serverConfig.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(defs, namer)
	serverConfig.OpenAPIConfig.Info.Title = "Orkestra test control plane"
	serverConfig.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(defs, namer)
	serverConfig.OpenAPIV3Config.Info.Title = "Orkestra test control plane"

	disco := &rootDiscovery{serializer: coreCodecs.WithoutConversion()}
	serverConfig.BuildHandlerChainFunc = func(apiHandler http.Handler, c *genericapiserver.Config) http.Handler {
		withRoot := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if strings.TrimSuffix(req.URL.Path, "/") == "/apis" {
				disco.handler().ServeHTTP(w, req)
				return
			}
			apiHandler.ServeHTTP(w, req)
		})
		return genericapiserver.DefaultBuildHandlerChain(withRoot, c)
	}

	config := &apiserver.Config{
		GenericConfig: serverConfig,
		ExtraConfig: apiserver.ExtraConfig{
			CRDRESTOptionsGetter: options.NewCRDRESTOptionsGetter(*ro.Etcd, serverConfig.ResourceTransformers, serverConfig.StorageObjectCountTracker),
			ServiceResolver:      webhook.NewDefaultServiceResolver(),
			AuthResolverWrapper:  webhook.NewDefaultAuthenticationInfoResolverWrapper(nil, nil, loopback, noopoteltrace.NewTracerProvider()),
		},
	}
	return config, disco, nil
}

// createBootstrapNamespaces creates the namespaces kube-apiserver always has. It runs as a post-start
// hook, so /readyz only turns ready once they exist.
func createBootstrapNamespaces(hook genericapiserver.PostStartHookContext) error {
	client, err := kubernetes.NewForConfig(hook.LoopbackClientConfig)
	if err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(hook, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, name := range bootstrapNamespaces {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
			if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				fmt.Fprintf(os.Stderr, "orkestra-test-apiserver: creating namespace %s (will retry): %v\n", name, err)
				return false, nil
			}
		}
		return true, nil
	})
}
