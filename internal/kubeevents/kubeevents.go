// Package kubeevents records what the daemon does to the models of kserve
// targets as Kubernetes Events (events.k8s.io/v1) on their
// InferenceServices, so that `kubectl describe isvc NAME` shows every
// apply, heal and refusal. Events are told through client-go's event
// broadcaster, which queues them, retries and folds repeats into series;
// they are for people to read: the audit trail is the record.
package kubeevents

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"

	"github.com/cairnops/cairn/daemon"
)

// ReportingController is the reportingController of every event Cairn records.
const ReportingController = "cairn.dev/daemon"

// InferenceServices is the resource of KServe's InferenceService, the
// object each event regards.
var InferenceServices = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}

// Recorder records daemon.Events as Kubernetes Events, in the cluster of
// each event's kubeconfig context. Create it with New and Stop it when the
// daemon has stopped.
type Recorder struct {
	load func(context string) (*rest.Config, error)

	mu       sync.Mutex // guards clusters
	clusters map[string]*cluster
}

// cluster is the event broadcaster of one kubeconfig context.
type cluster struct {
	dyn  dynamic.Interface
	b    events.EventBroadcaster
	rec  events.EventRecorder
	stop context.CancelFunc
}

var _ daemon.Events = (*Recorder)(nil)

// New returns a recorder that reaches the cluster of a kubeconfig context
// (empty: the current one) through load, on the first event for it.
func New(load func(context string) (*rest.Config, error)) *Recorder {
	return &Recorder{load: load, clusters: map[string]*cluster{}}
}

// cluster returns the broadcaster of kubeContext, started on first use.
func (r *Recorder) cluster(kubeContext string) (*cluster, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.clusters[kubeContext]; ok {
		return c, nil
	}
	cfg, err := r.load(kubeContext)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	b := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
	// Events are sent after the daemon's context ends too: the apply in
	// hand at SIGTERM still tells of itself.
	ctx, cancel := context.WithCancel(context.Background())
	if err := b.StartRecordingToSinkWithContext(ctx); err != nil {
		cancel()
		return nil, err
	}
	c := &cluster{dyn: dyn, b: b, rec: b.NewRecorder(scheme.Scheme, ReportingController), stop: cancel}
	r.clusters[kubeContext] = c
	return c, nil
}

// Stop stops sending events; those still queued are dropped.
func (r *Recorder) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.clusters {
		c.b.Shutdown()
		c.stop()
	}
	r.clusters = map[string]*cluster{}
}

// Record queues e as an event regarding the InferenceService e.Model in
// e.Namespace of the cluster of e.Context. The object's uid is read first,
// so that `kubectl describe` finds the event; an object that does not
// exist (deleted, never deployed) is told nothing, one that cannot be read
// otherwise is regarded by name alone. It returns the error of a cluster
// that cannot be reached; sending is asynchronous.
func (r *Recorder) Record(ctx context.Context, e daemon.Event) error {
	c, err := r.cluster(e.Context)
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	ref := &corev1.ObjectReference{APIVersion: InferenceServices.GroupVersion().String(), Kind: "InferenceService",
		Namespace: e.Namespace, Name: e.Model}
	u, err := c.dyn.Resource(InferenceServices).Namespace(e.Namespace).Get(ctx, e.Model, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		// Nobody could see it: `kubectl describe` has no object to show
		// (a deleted model, a refused model never deployed).
		return nil
	case err == nil:
		ref.UID, ref.ResourceVersion = u.GetUID(), u.GetResourceVersion()
	}
	typ := corev1.EventTypeNormal
	if e.Warning {
		typ = corev1.EventTypeWarning
	}
	note := e.Note
	if len(note) > maxNote {
		note = note[:maxNote-len("…")] + "…"
	}
	var related runtime.Object
	c.rec.Eventf(ref, related, typ, e.Reason, e.Action, "%s", note)
	return nil
}

// maxNote is the longest note the API server accepts, in bytes.
const maxNote = 1024
