package inventory

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"oras.land/oras-go/v2/registry"

	"github.com/cairnops/cairn/internal/keys"
	"github.com/cairnops/cairn/schema"
)

// ArtifactSchemes are the artifact URI schemes this build can open, in the
// order messages name them. A version whose artifact URI has another scheme
// is a schema problem; the artifact opener serves exactly these.
var ArtifactSchemes = []string{FilePrefix, "https://", OCIPrefix}

// OCIPrefix starts an artifact URI that names a manifest in an OCI
// registry: oci://REGISTRY/REPO@sha256:<hex> or
// oci://REGISTRY/REPO:TAG@sha256:<hex>.
const OCIPrefix = "oci://"

// ErrOCIPin is wrapped by ParseOCI's error for an oci:// URI that does not
// pin a manifest by its digest.
var ErrOCIPin = errors.New("an oci:// artifact must be pinned by its manifest digest")

var ociDigest = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// ParseOCI parses an oci:// artifact URI into its registry, repository and
// manifest digest (Reference holds the digest; a tag beside it is dropped,
// since the digest rules). A tag alone, which can move, or a digest other
// than sha256 is an error wrapping ErrOCIPin.
func ParseOCI(uri string) (registry.Reference, error) {
	rest, ok := strings.CutPrefix(uri, OCIPrefix)
	if !ok {
		return registry.Reference{}, fmt.Errorf("%q is not an oci:// URI", uri)
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return registry.Reference{}, fmt.Errorf("%q: %w: a tag can move; write oci://REGISTRY/REPO@sha256:<manifest digest> (a tag may stay before the @)", uri, ErrOCIPin)
	}
	if !ociDigest.MatchString(rest[at+1:]) {
		return registry.Reference{}, fmt.Errorf("%q: %w: want @sha256:<64 hex digits>", uri, ErrOCIPin)
	}
	ref, err := registry.ParseReference(rest)
	if err != nil {
		return registry.Reference{}, fmt.Errorf("%q: %w", uri, err)
	}
	return ref, nil
}

// ArtifactScheme returns the scheme of uri with its "://" (e.g. "s3://"),
// and whether this build can open it: it is one of ArtifactSchemes, spelt
// as there (lower case, as the opener matches it). A uri without "://" has
// the scheme "".
func ArtifactScheme(uri string) (string, bool) {
	i := strings.Index(uri, "://")
	if i <= 0 {
		return "", false
	}
	scheme := uri[:i+3]
	return scheme, slices.Contains(ArtifactSchemes, scheme)
}

// wantSchemes is "file:// or https://".
func wantSchemes() string {
	if len(ArtifactSchemes) == 1 {
		return ArtifactSchemes[0]
	}
	return strings.Join(ArtifactSchemes[:len(ArtifactSchemes)-1], ", ") + " or " + ArtifactSchemes[len(ArtifactSchemes)-1]
}

// schemeProblems reports every artifact URI of m whose scheme this build
// cannot open.
func schemeProblems(m *Model) []Problem {
	var out []Problem
	for _, v := range keys.Sorted(m.Versions) {
		uri := m.Versions[v].Artifact.URI
		at := []string{"versions", v, "artifact", "uri"}
		scheme, ok := ArtifactScheme(uri)
		if ok && scheme == OCIPrefix {
			if msg := ociProblem(uri, m.Versions[v].Artifact.Digest); msg != "" {
				out = append(out, Problem{Model: m.Name, Pos: m.Pos(at...), Message: pathString(at) + ": " + msg})
			}
			continue
		}
		if ok {
			continue
		}
		var msg string
		switch scheme {
		case "":
			msg = fmt.Sprintf("%q is not a URI (want %s)", uri, wantSchemes())
		case "http://":
			msg = fmt.Sprintf("scheme http:// cannot be fetched by this build: anyone on the path can change what it serves (want %s)", wantSchemes())
		default:
			msg = fmt.Sprintf("scheme %s cannot be fetched by this build (want %s)", scheme, wantSchemes())
		}
		out = append(out, Problem{Model: m.Name, Pos: m.Pos(at...), Message: pathString(at) + ": " + msg})
	}
	return out
}

// ociProblem says what is wrong with the oci:// pin uri of a version
// whose digest is digest, or "".
func ociProblem(uri, digest string) string {
	ref, err := ParseOCI(uri)
	if err != nil {
		return strings.TrimPrefix(err.Error(), strconv.Quote(uri)+": ")
	}
	if ref.Reference != digest {
		return fmt.Sprintf("names manifest %s but the version's digest is %s: the digest of an oci:// artifact is its manifest digest", ref.Reference, digest)
	}
	return ""
}

// monitorProblems reports the monitors of m that watch a stage settings do
// not declare.
func monitorProblems(m *Model, settings schema.Settings) []Problem {
	var out []Problem
	for _, name := range keys.Sorted(m.Monitors) {
		stage := m.Monitors[name].Stage
		if slices.Contains(settings.Stages, stage) {
			continue
		}
		at := []string{"monitors", name, "stage"}
		msg := undeclaredStage(stage, settings.Stages)
		if !m.sets(at...) {
			msg = fmt.Sprintf("%q (the default) ", stage) + strings.TrimPrefix(msg, strconv.Quote(stage)+" ")
		}
		out = append(out, Problem{Model: m.Name, Pos: m.Pos(at...), Message: pathString(at) + ": " + msg})
	}
	return out
}

// checkModels adds the problems of each valid model that need the
// settings or more than its CUE: artifact schemes and monitored stages. A
// model with such a problem is no longer valid. The problems of each model
// stay together, in the order of models.
func checkModels(models []*Model, problems [][]Problem, settings schema.Settings, settingsOK bool) {
	for i, m := range models {
		if !m.Valid {
			continue
		}
		p := schemeProblems(m)
		if settingsOK {
			p = append(p, monitorProblems(m, settings)...)
		}
		if len(p) > 0 {
			m.Valid = false
			problems[i] = append(problems[i], p...)
		}
	}
}

func undeclaredStage(stage string, stages []string) string {
	if len(stages) == 0 {
		return fmt.Sprintf("%q is not a stage of inventory.cue (it declares no stages)", stage)
	}
	return fmt.Sprintf("%q is not a stage of inventory.cue (stages: %s)", stage, strings.Join(stages, ", "))
}

// settingsProblems checks what the schema of inventory.cue cannot say
// alone: stage names are unique, and every stage a target, signing or an
// approval names is declared; every target's kind is one this build
// implements (kinds), and local target paths are relative, stay inside the
// target root, and neither repeat nor nest. v is inventory.cue unified with
// the schema; the parts of it that have schema problems of their own are
// passed over, so that each fault is reported once.
func (inv *Inventory) settingsProblems(v cue.Value, kinds []string) []Problem {
	// Each part is decoded on its own: a part with a problem of its own
	// does not decode, and is passed over.
	decode := func(x any, at ...string) bool {
		part := v.LookupPath(cue.MakePath(selectors(at)...))
		return part.Validate(cue.Concrete(true)) == nil && part.Decode(x) == nil
	}
	var s schema.Settings
	if !decode(&s.Stages, "stages") {
		return nil
	}
	var targets []string
	it, _ := v.LookupPath(cue.ParsePath("targets")).Fields()
	for it != nil && it.Next() {
		name := it.Selector().Unquoted()
		var t schema.Target
		if decode(&t, "targets", name) {
			if s.Targets == nil {
				s.Targets = map[string]schema.Target{}
			}
			s.Targets[name] = t
			targets = append(targets, name)
		}
	}
	sort.Strings(targets)
	s.Targets = withConfig(v, s.Targets)
	signing := decode(&s.Signing.Required, "signing", "required")
	it, _ = v.LookupPath(cue.ParsePath("approvals")).Fields()
	for it != nil && it.Next() {
		if s.Approvals == nil {
			s.Approvals = map[string]schema.Approval{}
		}
		s.Approvals[it.Selector().Unquoted()] = schema.Approval{}
	}
	var out []Problem
	add := func(msg string, at ...string) {
		out = append(out, Problem{Pos: inv.SettingsPos(at...), Message: pathString(at) + ": " + msg})
	}
	seen := map[string]int{}
	for i, st := range s.Stages {
		if j, ok := seen[st]; ok {
			add(fmt.Sprintf("stage %q is declared twice (also stages.%d): a promotion path names each stage once", st, j), "stages", strconv.Itoa(i))
			continue
		}
		seen[st] = i
	}
	declared := func(stage string, at ...string) {
		if _, ok := seen[stage]; !ok {
			add(undeclaredStage(stage, s.Stages), at...)
		}
	}
	for _, name := range targets {
		t := s.Targets[name]
		declared(t.Stage, "targets", name, "stage")
		if !slices.Contains(kinds, t.Kind) {
			add(fmt.Sprintf("%q is not a target kind this build implements (want %s)", t.Kind, quoteAll(kinds, " or ")), "targets", name, "kind")
		}
	}
	// The default, ["production"], asks nothing of an inventory without
	// that stage; a list the file sets must name declared stages.
	if _, set := inv.settingsPos["signing\x00required"]; set && signing {
		for i, st := range s.Signing.Required {
			declared(st, "signing", "required", strconv.Itoa(i))
		}
	}
	for _, st := range keys.Sorted(s.Approvals) {
		if _, ok := seen[st]; !ok {
			add(undeclaredStage(st, s.Stages), "approvals", st)
		}
	}
	out = append(out, localPathProblems(inv, s, targets)...)
	out = append(out, kserveNamespaceProblems(inv, s, targets)...)
	return out
}

// kserveNamespaceProblems checks that no two kserve targets serve the same
// namespace of the same kubeconfig context: each would prune the other's
// InferenceServices as models it does not want.
func kserveNamespaceProblems(inv *Inventory, s schema.Settings, targets []string) []Problem {
	var out []Problem
	seen := map[[2]string]string{}
	for _, name := range targets {
		t := s.Targets[name]
		ns, _ := t.Config["namespace"].(string)
		if t.Kind != "kserve" || ns == "" {
			continue
		}
		kctx, _ := t.Config["context"].(string)
		key := [2]string{kctx, ns}
		if other, ok := seen[key]; ok {
			at := []string{"targets", name, "namespace"}
			where := "namespace " + strconv.Quote(ns)
			if kctx != "" {
				where += " of context " + strconv.Quote(kctx)
			}
			out = append(out, Problem{Pos: inv.SettingsPos(at...), Message: pathString(at) +
				fmt.Sprintf(": %s is also served by target %s: each kserve target needs its own namespace", where, other)})
			continue
		}
		seen[key] = name
	}
	return out
}

// localPathProblems checks the path of every local target: relative and
// inside the target root, and no folder served by two targets or by one
// inside another's.
func localPathProblems(inv *Inventory, s schema.Settings, targets []string) []Problem {
	type local struct{ name, path string }
	var usable []local
	var out []Problem
	for _, name := range targets {
		t := s.Targets[name]
		if t.Kind != "local" {
			continue
		}
		at := []string{"targets", name, "path"}
		p, set := t.Config["path"].(string)
		switch {
		case !set:
			// A missing path is the schema's problem: reported once, there.
		case filepath.IsAbs(p) || strings.HasPrefix(p, "/"):
			out = append(out, Problem{Pos: inv.SettingsPos(at...), Message: pathString(at) +
				fmt.Sprintf(": %q is absolute: a local target path is relative to the target root (--target-root)", p)})
		case !filepath.IsLocal(p):
			out = append(out, Problem{Pos: inv.SettingsPos(at...), Message: pathString(at) +
				fmt.Sprintf(": %q leaves the target root: want a relative path without \"..\"", p)})
		default:
			usable = append(usable, local{name, filepath.ToSlash(filepath.Clean(p))})
		}
	}
	for i, a := range usable {
		for _, b := range usable[:i] {
			var msg string
			switch {
			case a.path == b.path:
				msg = fmt.Sprintf("%q is also the path of target %s: each local target needs its own folder", a.path, b.name)
			case strings.HasPrefix(a.path, b.path+"/"):
				msg = fmt.Sprintf("%q is inside the folder of target %s (%q): local target folders must not nest", a.path, b.name, b.path)
			case strings.HasPrefix(b.path, a.path+"/"):
				msg = fmt.Sprintf("%q holds the folder of target %s (%q): local target folders must not nest", a.path, b.name, b.path)
			default:
				continue
			}
			at := []string{"targets", a.name, "path"}
			out = append(out, Problem{Pos: inv.SettingsPos(at...), Message: pathString(at) + ": " + msg})
		}
	}
	return out
}

// pathString writes a path as CUE's error paths read, quoting labels that
// need it: versions."1.0.0".artifact.uri, signing.required.0.
func pathString(at []string) string {
	parts := make([]string, len(at))
	for i, p := range at {
		if _, isIndex := indexSelector(p); isIndex {
			parts[i] = p
			continue
		}
		parts[i] = cue.Str(p).String()
	}
	return strings.Join(parts, ".")
}

// withConfig fills in each target's Config: its settings beyond the fields
// every kind has, decoded from the settings value v.
func withConfig(v cue.Value, targets map[string]schema.Target) map[string]schema.Target {
	for name, t := range targets {
		var cfg map[string]any
		if err := v.LookupPath(cue.MakePath(cue.Str("targets"), cue.Str(name))).Decode(&cfg); err == nil {
			for _, k := range []string{"stage", "kind", "onDrift", "url"} {
				delete(cfg, k)
			}
			t.Config = cfg
			targets[name] = t
		}
	}
	return targets
}

// concreteProblems reports what keeps v from being concrete once the
// schema checks and the walk for missing fields pass: a value that cannot
// be resolved, such as `stages: stages + ["canary"]`.
func concreteProblems(v, data cue.Value, fallback Position) []Problem {
	if err := v.Validate(cue.Concrete(true), cue.All()); err != nil {
		return cueProblems("", err, data, fallback)
	}
	return nil
}

func quoteAll(s []string, sep string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = strconv.Quote(x)
	}
	return strings.Join(q, sep)
}

// sets reports whether the model's own files or the defaults set the value
// at path, rather than the schema's default.
func (m *Model) sets(path ...string) bool {
	m.posOnce.Do(m.indexPositions)
	_, ok := m.pos[strings.Join(path, "\x00")]
	return ok
}
