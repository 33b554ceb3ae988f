// Package kserve is the kserve target driver: each model pinned at the
// target's stage runs as one KServe InferenceService
// (serving.kserve.io/v1beta1) in the target's namespace, named after the
// model, written by server-side apply with the field manager "cairn".
//
// The driver owns what it sets and nothing else. Drift is a difference in
// the value of a field Cairn sets; fields that defaulting or a controller
// adds are never drift. Only InferenceServices that carry the labels
// app.kubernetes.io/managed-by=cairn and cairn.dev/target=<target> are
// updated or pruned; any other object is never touched, and an unmanaged
// InferenceService of a desired model's name is an error, not a takeover.
//
// A no-op apply, a plan and an observation are one list call and no writes.
package kserve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/cairnops/cairn/targets"
)

// FieldManager is the field manager of every write.
const FieldManager = "cairn"

// Labels and annotations the driver sets on every InferenceService.
const (
	LabelManagedBy     = "app.kubernetes.io/managed-by"
	LabelModel         = "cairn.dev/model"
	LabelVersion       = "cairn.dev/version"
	LabelTarget        = "cairn.dev/target"
	AnnotationVersion  = "cairn.dev/version"
	AnnotationDigest   = "cairn.dev/digest"
	AnnotationRevision = "cairn.dev/revision"
)

// Resource is KServe's InferenceService resource.
var Resource = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}

// ErrInvalid is wrapped by errors for a desired state the driver refuses to
// render: an artifact a cluster cannot fetch or that Cairn cannot verify.
var ErrInvalid = errors.New("invalid desired state")

// Options configure a Target.
type Options struct {
	// Force takes over fields another manager changed: a heal.
	Force bool
}

// Target is one namespace of a cluster.
type Target struct {
	name, namespace string
	client          dynamic.ResourceInterface
	opts            Options
	// written is the resourceVersion each write of the last Apply left,
	// by model: Wait trusts a status only once the object moved past it.
	written map[string]string
}

// New returns the driver of target name, serving in namespace of the
// cluster cfg reaches. Nothing is called until Observe, Plan or Apply.
func New(cfg *rest.Config, name, namespace string, opts Options) (*Target, error) {
	c, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kserve target %s: %w", name, err)
	}
	return &Target{name: name, namespace: namespace, client: c.Resource(Resource).Namespace(namespace), opts: opts}, nil
}

// Object returns how output names the InferenceService of model,
// "kserve NAMESPACE/MODEL".
func (t *Target) Object(model string) string { return "kserve " + t.namespace + "/" + model }

// live is the target as one list call saw it.
type live struct {
	managed   map[string]*unstructured.Unstructured // this target's objects, by model
	unmanaged map[string]bool                       // names of other InferenceServices
}

// list reads every InferenceService of the namespace.
func (t *Target) list(ctx context.Context) (*live, error) {
	l, err := t.client.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, t.apiError("list InferenceServices", err)
	}
	out := &live{managed: map[string]*unstructured.Unstructured{}, unmanaged: map[string]bool{}}
	for i := range l.Items {
		o := &l.Items[i]
		lb := o.GetLabels()
		if lb[LabelManagedBy] == FieldManager && lb[LabelTarget] == t.name {
			out.managed[o.GetName()] = o
			continue
		}
		out.unmanaged[o.GetName()] = true
	}
	return out, nil
}

// apiError turns an API error into one line that says what to do. what
// is the call, "list InferenceServices" or "apply kserve NS/NAME".
func (t *Target) apiError(what string, err error) error {
	if !strings.Contains(what, t.namespace+"/") {
		what += " in namespace " + t.namespace
	}
	var se apierrors.APIStatus
	var ue *url.Error
	switch {
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%s: the API server refused the credentials (401 Unauthorized): check --kubeconfig or KUBECONFIG", what)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s: forbidden by RBAC: %s", what, statusMessage(err))
	case apierrors.IsNotFound(err) && errors.As(err, &se) && se.Status().Details != nil && se.Status().Details.Kind == "namespaces":
		return fmt.Errorf("%s: namespace %s does not exist: create it, or fix the target's namespace setting", what, t.namespace)
	case apierrors.IsNotFound(err) && !strings.HasPrefix(what, "delete") && !strings.HasPrefix(what, "get"):
		// A list or an apply finds no resource only when the type is not served.
		return fmt.Errorf("%s: the API server does not serve %s: install KServe's InferenceService CRD", what, Resource.GroupVersion())
	case errors.As(err, &se):
		return fmt.Errorf("%s: %s", what, statusMessage(err))
	case errors.As(err, &ue):
		return fmt.Errorf("%s: cannot reach the API server at %s: %v", what, redactURL(ue.URL), ue.Err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// statusMessage is the API server's message, on one line.
func statusMessage(err error) string {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		if m := se.Status().Message; m != "" {
			return strings.Join(strings.Fields(m), " ")
		}
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

// redactURL drops the query and user info of u: the host is what helps.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "the API server"
	}
	return p.Scheme + "://" + p.Host
}

// Observe reports every InferenceService this target manages, and for each
// desired model that it serves, the fields whose values differ from what
// Cairn sets, with who changed them.
func (t *Target) Observe(ctx context.Context, desired []targets.Model) ([]targets.Deployed, error) {
	lv, err := t.list(ctx)
	if err != nil {
		return nil, err
	}
	want := make(map[string]targets.Model, len(desired))
	for _, m := range desired {
		want[m.Name] = m
	}
	out := make([]targets.Deployed, 0, len(lv.managed))
	for _, name := range slices.Sorted(maps.Keys(lv.managed)) {
		o := lv.managed[name]
		d := deployed(o)
		d.Object = t.Object(name)
		if m, ok := want[name]; ok && d.Version == m.Version {
			obj, err := t.render(m, "")
			if err != nil {
				return nil, err
			}
			d.Fields = fieldDrift(obj.Object, o)
			if len(d.Fields) > 0 {
				t.conflicts(ctx, obj, d.Fields)
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// deployed reads what an InferenceService says of itself.
func deployed(o *unstructured.Unstructured) targets.Deployed {
	ann := o.GetAnnotations()
	return targets.Deployed{
		Name:     o.GetName(),
		Version:  ann[AnnotationVersion],
		Digest:   ann[AnnotationDigest],
		Revision: ann[AnnotationRevision],
		Status:   status(o),
	}
}

// Plan returns the changes Apply would make, from one list call.
func (t *Target) Plan(ctx context.Context, desired []targets.Model) ([]targets.Change, error) {
	lv, err := t.list(ctx)
	if err != nil {
		return nil, err
	}
	cs, _, err := t.plan(desired, lv)
	return cs, err
}

// plan compares desired with what is live and returns the change set and the
// objects to write, by model.
func (t *Target) plan(desired []targets.Model, lv *live) ([]targets.Change, map[string]*unstructured.Unstructured, error) {
	var cs []targets.Change
	writes := map[string]*unstructured.Unstructured{}
	var errs []error
	want := map[string]bool{}
	for _, m := range desired {
		want[m.Name] = true
		obj, err := t.render(m, "")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c := targets.Change{Model: m.Name, To: m.Version, Digest: m.Artifact.Digest, Object: t.Object(m.Name)}
		o, ok := lv.managed[m.Name]
		switch {
		case !ok && lv.unmanaged[m.Name]:
			errs = append(errs, fmt.Errorf("%s exists and is not managed by cairn target %s: rename or remove it, Cairn does not take over objects it did not create", t.Object(m.Name), t.name))
			continue
		case !ok:
			c.Action = targets.Created
		default:
			d := deployed(o)
			c.From = d.Version
			c.Action = targets.Unchanged
			if d.Version != m.Version || d.Digest != m.Artifact.Digest || len(fieldDrift(obj.Object, o)) > 0 {
				c.Action = targets.Updated
			}
		}
		if c.Action != targets.Unchanged {
			writes[m.Name] = obj
		}
		cs = append(cs, c)
	}
	for name, o := range lv.managed {
		if !want[name] {
			cs = append(cs, targets.Change{Model: name, Action: targets.Deleted, From: deployed(o).Version, Object: t.Object(name)})
		}
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Model < cs[j].Model })
	return cs, writes, errors.Join(errs...)
}

// Apply makes the namespace serve desired: it verifies the artifact of
// every object it is to write, then writes each by server-side apply
// (forced only when healing) and deletes the InferenceServices of models
// no longer desired. A model whose artifact does not verify, or whose
// write conflicts with another manager, fails alone; nothing is written
// for a revision whose desired state cannot be rendered. Objects that
// already match are not written.
func (t *Target) Apply(ctx context.Context, rev string, desired []targets.Model, open targets.Opener) ([]targets.Change, error) {
	lv, err := t.list(ctx)
	if err != nil {
		return nil, err
	}
	cs, writes, err := t.plan(desired, lv)
	if err != nil {
		return nil, err
	}
	byName := map[string]targets.Model{}
	for _, m := range desired {
		byName[m.Name] = m
	}
	t.written = map[string]string{}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(writes)) {
		if err := verify(ctx, byName[name].Artifact, open); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			delete(writes, name)
		}
	}
	for i, c := range cs {
		switch {
		case writes[c.Model] != nil:
			obj := writes[c.Model]
			obj.SetAnnotations(withRevision(obj.GetAnnotations(), rev))
			got, err := t.client.Apply(ctx, c.Model, obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: t.opts.Force})
			if err == nil {
				t.written[c.Model] = got.GetResourceVersion()
			}
			if err != nil {
				errs = append(errs, t.writeError(c.Model, err))
				cs[i].Action = failedAction(c)
			}
		case c.Action == targets.Deleted:
			o := lv.managed[c.Model]
			uid, rv := o.GetUID(), o.GetResourceVersion()
			err := t.client.Delete(ctx, c.Model, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}})
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, t.apiError("delete "+t.Object(c.Model), err))
			}
		case c.Action == targets.Created || c.Action == targets.Updated:
			cs[i].Action = failedAction(c) // its artifact did not verify
		}
	}
	return cs, errors.Join(errs...)
}

// failedAction is what a change that was not written leaves: the model as
// it was.
func failedAction(c targets.Change) targets.Action {
	if c.From == "" {
		return targets.Skipped
	}
	return targets.Unchanged
}

func withRevision(ann map[string]string, rev string) map[string]string {
	if ann == nil {
		ann = map[string]string{}
	}
	if rev != "" {
		ann[AnnotationRevision] = rev
	}
	return ann
}

// writeError says why an apply of model failed; a conflict names the
// fields and the managers that own them.
func (t *Target) writeError(model string, err error) error {
	if apierrors.IsConflict(err) {
		return fmt.Errorf("%s: %s: another field manager changed what Cairn sets; run `cairn drift` to see the change, and `cairn drift --heal` (or onDrift: heal) to restore git's values", t.Object(model), conflictText(err))
	}
	return t.apiError("apply "+t.Object(model), err)
}

// conflictText is the conflicts of a server-side apply, "conflict with
// "kubectl-patch": .spec.predictor.model.storageUri".
func conflictText(err error) string {
	var se apierrors.APIStatus
	if !errors.As(err, &se) || se.Status().Details == nil || len(se.Status().Details.Causes) == 0 {
		return statusMessage(err)
	}
	var parts []string
	for _, c := range se.Status().Details.Causes {
		parts = append(parts, strings.TrimSpace(c.Message)+": "+c.Field)
	}
	return strings.Join(parts, "; ")
}

// conflicts asks the API server, by a dry-run apply without force, which
// managers own the drifted fields, and notes its answer on each.
func (t *Target) conflicts(ctx context.Context, obj *unstructured.Unstructured, fields []targets.FieldDrift) {
	_, err := t.client.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: FieldManager, DryRun: []string{metav1.DryRunAll}})
	var se apierrors.APIStatus
	if !apierrors.IsConflict(err) || !errors.As(err, &se) || se.Status().Details == nil {
		return
	}
	for _, c := range se.Status().Details.Causes {
		field := strings.TrimPrefix(c.Field, ".")
		for i := range fields {
			if fields[i].Path == field || strings.HasPrefix(fields[i].Path, field+".") {
				fields[i].Conflict = strings.TrimSpace(c.Message)
			}
		}
	}
}

// verify reads every file of a through open and checks its digest and
// size, so that nothing Cairn cannot verify is handed to the cluster: the
// one file of an https:// artifact, the manifest (by Files) and every
// layer of an oci:// one.
func verify(ctx context.Context, a targets.Artifact, open targets.Opener) error {
	if open == nil {
		return fmt.Errorf("%w: artifact %s: no way to verify it", ErrInvalid, a.URI)
	}
	files, err := open.Files(ctx, a)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := verifyFile(ctx, a, f, open); err != nil {
			return err
		}
	}
	return nil
}

func verifyFile(ctx context.Context, a targets.Artifact, f targets.File, open targets.Opener) error {
	name := a.URI
	if f.Name != "" {
		name += " (" + f.Name + ")"
	}
	rc, err := open.Open(ctx, a, f)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != f.Digest {
		return fmt.Errorf("artifact %s has digest %s, want %s", name, got, f.Digest)
	}
	if f.Size > 0 && n != f.Size {
		return fmt.Errorf("artifact %s has %d bytes, want %d", name, n, f.Size)
	}
	return nil
}

// labelValueRE is what Kubernetes accepts as a label value.
var labelValueRE = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)

// labelValue makes a version a label value: "+" (build metadata) becomes
// "_"; the annotation keeps the version exactly.
func labelValue(v string) string {
	v = strings.ReplaceAll(v, "+", "_")
	if len(v) > 63 || !labelValueRE.MatchString(v) {
		return ""
	}
	return v
}

// render returns the InferenceService that serves m, with rev in its
// annotations when not empty.
func (t *Target) render(m targets.Model, rev string) (*unstructured.Unstructured, error) {
	if ok, want := targets.Serves("kserve", m.Artifact.URI); !ok {
		return nil, fmt.Errorf("%w: %s %s: artifact %s: a kserve target serves %s", ErrInvalid, m.Name, m.Version, m.Artifact.URI, want)
	}
	if m.Serving.Format == "" {
		return nil, fmt.Errorf("%w: %s %s: no model format: set card.framework or versions.%q.serving.format", ErrInvalid, m.Name, m.Version, m.Version)
	}
	model := map[string]any{
		"modelFormat": map[string]any{"name": m.Serving.Format},
		"storageUri":  m.Artifact.URI,
	}
	if m.Serving.Runtime != "" {
		model["runtime"] = m.Serving.Runtime
	}
	if m.Serving.ProtocolVersion != "" {
		model["protocolVersion"] = m.Serving.ProtocolVersion
	}
	res := map[string]any{}
	if len(m.Serving.Requests) > 0 {
		res["requests"] = stringMap(m.Serving.Requests)
	}
	if len(m.Serving.Limits) > 0 {
		res["limits"] = stringMap(m.Serving.Limits)
	}
	if len(res) > 0 {
		model["resources"] = res
	}
	labels := map[string]any{LabelManagedBy: FieldManager, LabelModel: m.Name, LabelTarget: t.name}
	if lv := labelValue(m.Version); lv != "" {
		labels[LabelVersion] = lv
	}
	ann := map[string]any{AnnotationVersion: m.Version, AnnotationDigest: m.Artifact.Digest}
	if rev != "" {
		ann[AnnotationRevision] = rev
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": Resource.GroupVersion().String(),
		"kind":       "InferenceService",
		"metadata": map[string]any{
			"name": m.Name, "namespace": t.namespace, "labels": labels, "annotations": ann,
		},
		"spec": map[string]any{"predictor": map[string]any{"model": model}},
	}}, nil
}

func stringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// fieldDrift compares every value desired sets (the spec, the labels, the
// version and digest annotations) with the live object, and returns the
// ones that differ, sorted by path, with who changed each last.
func fieldDrift(desired map[string]any, o *unstructured.Unstructured) []targets.FieldDrift {
	var out []targets.FieldDrift
	var walk func(path []string, want any)
	walk = func(path []string, want any) {
		if wm, ok := want.(map[string]any); ok {
			for _, k := range slices.Sorted(maps.Keys(wm)) {
				walk(append(slices.Clip(path), k), wm[k])
			}
			return
		}
		got, found, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
		if found && reflect.DeepEqual(got, want) {
			return
		}
		f := targets.FieldDrift{Path: fieldPath(path), Want: jsonText(want), Got: "absent"}
		if found {
			f.Got = jsonText(got)
		}
		f.Manager, f.Operation, f.Time = lastManager(o, path)
		out = append(out, f)
	}
	walk([]string{"spec"}, desired["spec"])
	meta, _ := desired["metadata"].(map[string]any)
	walk([]string{"metadata", "labels"}, meta["labels"])
	ann, _ := meta["annotations"].(map[string]any)
	for _, k := range []string{AnnotationVersion, AnnotationDigest} {
		if v, ok := ann[k]; ok {
			walk([]string{"metadata", "annotations", k}, v)
		}
	}
	return out
}

// fieldPath writes a path as kubectl's JSONPath reads it, keys with dots
// or slashes in brackets: metadata.labels['cairn.dev/model'].
func fieldPath(path []string) string {
	var b strings.Builder
	for i, p := range path {
		if strings.ContainsAny(p, "./") {
			b.WriteString("['" + p + "']")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// lastManager returns the manager other than cairn that owns path, or the
// deepest part of it (an atomic map is owned whole), as the object's
// managedFields say; among equals the latest. It returns empty strings
// when no other manager owns any of it.
func lastManager(o *unstructured.Unstructured, path []string) (manager, operation, at string) {
	best, bestTime := -1, time.Time{}
	for _, e := range o.GetManagedFields() {
		if e.Manager == FieldManager || e.FieldsV1 == nil {
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal(e.FieldsV1.Raw, &fields); err != nil {
			continue
		}
		depth, owns := ownedDepth(fields, path)
		if !owns {
			continue
		}
		var t time.Time
		if e.Time != nil {
			t = e.Time.Time
		}
		if depth > best || (depth == best && t.After(bestTime)) {
			best, bestTime = depth, t
			manager, operation = e.Manager, string(e.Operation)
			at = ""
			if e.Time != nil {
				at = e.Time.UTC().Format(time.RFC3339)
			}
		}
	}
	return manager, operation, at
}

// ownedDepth walks path down a managedFields field set ("f:spec": {...})
// and reports how deep it got and whether the set owns path there: it
// reached the end, or stopped at a leaf that owns the whole subtree (an
// atomic map or list).
func ownedDepth(fields map[string]any, path []string) (int, bool) {
	node := fields
	for i, p := range path {
		next, ok := node["f:"+p]
		if !ok {
			return i, false
		}
		m, _ := next.(map[string]any)
		if len(m) == 0 || (len(m) == 1 && m["."] != nil) {
			return i + 1, true
		}
		node = m
	}
	return len(path), true
}

// status reads the serving state of an InferenceService: Ready, and where
// KServe reports them, the model's transition and load states. An object
// without a status is not ready.
func status(o *unstructured.Unstructured) *targets.Status {
	st, ok := o.Object["status"].(map[string]any)
	if !ok {
		return &targets.Status{Reason: "no status yet: the KServe controller has not seen it"}
	}
	out := &targets.Status{}
	out.URL, _ = st["url"].(string)
	ready := false
	reason := "not ready"
	conds, _ := st["conditions"].([]any)
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] != "Ready" {
			continue
		}
		ready = m["status"] == "True"
		if msg, _ := m["message"].(string); msg != "" {
			reason = "not ready: " + msg
		} else if r, _ := m["reason"].(string); r != "" {
			reason = "not ready: " + r
		}
	}
	if f := failure(st); f != "" {
		out.Reason = f
		return out
	}
	ms, _ := st["modelStatus"].(map[string]any)
	if ts, _ := ms["transitionStatus"].(string); ts != "" && ts != "UpToDate" {
		ready, reason = false, "model transition "+ts
	}
	states, _ := ms["states"].(map[string]any)
	if as, _ := states["activeModelState"].(string); as != "" && as != "Loaded" {
		ready, reason = false, "model "+as
	}
	out.Ready = ready
	if !ready {
		out.Reason = reason
	}
	return out
}

// failure returns why KServe says the model failed to load, or "" when it
// does not: a transition blocked by a failed load or an invalid spec, or a
// FailedToLoad model state, with the lastFailureInfo it gives.
func failure(st map[string]any) string {
	ms, _ := st["modelStatus"].(map[string]any)
	ts, _ := ms["transitionStatus"].(string)
	states, _ := ms["states"].(map[string]any)
	target, _ := states["targetModelState"].(string)
	active, _ := states["activeModelState"].(string)
	if ts != "BlockedByFailedLoad" && ts != "InvalidSpec" && target != "FailedToLoad" && active != "FailedToLoad" {
		return ""
	}
	s := "failed to load"
	if ts == "InvalidSpec" {
		s = "invalid spec"
	}
	if info, ok := ms["lastFailureInfo"].(map[string]any); ok {
		if r, _ := info["reason"].(string); r != "" {
			s += ": " + r
		}
		if m, _ := info["message"].(string); m != "" {
			s += ": " + strings.Join(strings.Fields(m), " ")
		}
	}
	return s
}
