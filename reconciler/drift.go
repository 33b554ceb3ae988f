package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/targets"
)

// Finding kinds of target drift.
const (
	// KindTargetDrift: the deployed version differs from git, or a model is missing or extra.
	KindTargetDrift = "target-drift"
	// KindArtifactCorrupt: a deployed file's bytes differ from the recorded digest.
	KindArtifactCorrupt = "artifact-corrupt"
)

// Finding is one difference between a target and the inventory.
type Finding struct {
	Kind   string `json:"kind"`
	Target string `json:"target"`
	Model  string `json:"model"`
	Want   string `json:"want,omitempty"` // version in git; empty for an extra model
	Got    string `json:"got,omitempty"`  // version deployed; empty for a missing model
	File   string `json:"file,omitempty"` // for artifact-corrupt: the file, relative to the model directory
	// Object is the cluster object, "kserve NAMESPACE/NAME", on cluster targets.
	Object string `json:"object,omitempty"`
	// Field is the changed field, its values and who changed it, where the
	// target can tell (kserve).
	Field   *targets.FieldDrift `json:"field,omitempty"`
	Message string              `json:"message"`
	// Healed is true when `drift --heal` re-applied the target without error.
	Healed bool `json:"healed,omitempty"`
}

// String returns "<kind> <target>/<model>: <message>", with the cluster
// object in brackets where there is one, and " (healed)" after a heal.
func (f Finding) String() string {
	s := fmt.Sprintf("%s %s/%s: %s", f.Kind, f.Target, f.Model, f.Message)
	if f.Object != "" {
		s = fmt.Sprintf("%s %s/%s (%s): %s", f.Kind, f.Target, f.Model, f.Object, f.Message)
	}
	if f.Healed {
		s += " (healed)"
	}
	return s
}

// DriftReport is the result of Drift.
type DriftReport struct {
	Revision string    `json:"revision"`
	Findings []Finding `json:"findings"`
	// Skipped lists targets that were not observed, with the reason.
	Skipped map[string]string `json:"skipped,omitempty"`
	// Healed are the change sets of healed targets, by target name.
	Healed map[string]ChangeSet `json:"healed,omitempty"`
	// Errors are targets that could not be observed or healed, by target name.
	Errors map[string]string `json:"errors,omitempty"`
	// Served is what the serving platform says of each model, by target and
	// model, for targets that report it (kserve): readiness and URL.
	Served map[string]map[string]targets.Status `json:"served,omitempty"`
}

// Drift observes every target (or the one opts.Target names) and compares
// it with the desired state of inv. With heal, each target with findings
// whose onDrift is "heal" is re-applied through Apply (validation and
// signatures included); "report" and "pr" targets are only reported. The
// error return is for ErrUnknownTarget; a target that cannot be observed or
// healed is listed in Errors.
func Drift(ctx context.Context, v *gate.Verdict, opts Options, heal bool) (*DriftReport, error) {
	inv := v.Inventory
	bs, err := Bindings(inv, opts)
	if err != nil {
		return nil, err
	}
	rep := &DriftReport{Revision: inv.Source.Revision, Findings: []Finding{}}
	for _, b := range bs {
		if b.Driver == nil {
			setKey(&rep.Skipped, b.Name, b.Skip)
			continue
		}
		desired := Desired(inv, b.Stage)
		obs, err := b.Driver.Observe(ctx, desired)
		if err != nil {
			setKey(&rep.Errors, b.Name, err.Error())
			continue
		}
		fs := runsVersion(inv, compare(b.Name, desired, obs))
		for _, o := range obs {
			if o.Status != nil {
				if rep.Served == nil {
					rep.Served = map[string]map[string]targets.Status{}
				}
				if rep.Served[b.Name] == nil {
					rep.Served[b.Name] = map[string]targets.Status{}
				}
				rep.Served[b.Name][o.Name] = *o.Status
			}
		}
		if len(fs) > 0 && heal && b.OnDrift == "heal" {
			o := opts
			o.Target, o.heal = b.Name, true
			res, err := Apply(ctx, v, o)
			if err != nil && !errors.Is(err, ErrRefused) && !errors.Is(err, ErrTargetFailed) {
				return nil, err
			}
			if err != nil {
				setKey(&rep.Errors, b.Name, "heal: "+err.Error())
			} else {
				for i := range fs {
					fs[i].Healed = true
				}
				if len(res.Targets) == 1 {
					if rep.Healed == nil {
						rep.Healed = map[string]ChangeSet{}
					}
					rep.Healed[b.Name] = res.Targets[0].Changes
				}
			}
		}
		rep.Findings = append(rep.Findings, fs...)
	}
	return rep, nil
}

// Unhealed counts the findings that --heal did not heal.
func (r *DriftReport) Unhealed() int {
	n := 0
	for _, f := range r.Findings {
		if !f.Healed {
			n++
		}
	}
	return n
}

func setKey(m *map[string]string, k, v string) {
	if *m == nil {
		*m = map[string]string{}
	}
	(*m)[k] = v
}

// compare returns the findings of one target, in model order.
func compare(tname string, desired []targets.Model, obs []targets.Deployed) []Finding {
	byName := make(map[string]targets.Deployed, len(obs))
	for _, o := range obs {
		byName[o.Name] = o
	}
	var out []Finding
	want := make(map[string]bool, len(desired))
	for _, m := range desired {
		want[m.Name] = true
		o, ok := byName[m.Name]
		switch {
		case !ok || o.Version == "":
			// Gone, or no `current` to serve it: not deployed. A `current`
			// that is not a symlink is damage on top.
			out = append(out, Finding{Kind: KindTargetDrift, Target: tname, Model: m.Name, Want: m.Version,
				Message: fmt.Sprintf("%s is not deployed, want %s", m.Name, m.Version)})
			if ok && slices.Contains(o.Corrupt, "current") {
				out = append(out, corrupt(tname, m.Version, o, "current"))
			}
			continue
		case o.Version != m.Version:
			out = append(out, Finding{Kind: KindTargetDrift, Target: tname, Model: m.Name, Want: m.Version, Got: o.Version,
				Message: fmt.Sprintf("deployed %s, want %s", o.Version, m.Version)})
		case len(o.Corrupt) == 0 && o.Digest != "" && o.Digest != m.Artifact.Digest:
			out = append(out, Finding{Kind: KindArtifactCorrupt, Target: tname, Model: m.Name, Want: m.Version, Got: o.Version,
				Message: fmt.Sprintf("%s is deployed with digest %s, want %s", m.Version, o.Digest, m.Artifact.Digest)})
		}
		for _, fd := range o.Fields {
			out = append(out, Finding{Kind: KindTargetDrift, Target: tname, Model: m.Name, Want: m.Version, Got: o.Version,
				Object: o.Object, Field: &fd, Message: fd.String()})
		}
		for _, f := range o.Corrupt {
			out = append(out, corrupt(tname, m.Version, o, f))
		}
	}
	for _, o := range obs {
		if want[o.Name] {
			continue
		}
		msg := fmt.Sprintf("%s %s is deployed but not desired", o.Name, o.Version)
		if o.Version == "" {
			msg = fmt.Sprintf("%s is on the target but not desired", o.Name)
		}
		out = append(out, Finding{Kind: KindTargetDrift, Target: tname, Model: o.Name, Got: o.Version, Message: msg})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Model < out[j].Model })
	return out
}

func corrupt(tname, want string, o targets.Deployed, file string) Finding {
	msg := fmt.Sprintf("%s does not match what was deployed", file)
	if !strings.Contains(file, "/") {
		msg = fmt.Sprintf("%s is damaged", file)
	}
	return Finding{Kind: KindArtifactCorrupt, Target: tname, Model: o.Name, Want: want, Got: o.Version, File: file, Message: msg}
}

// storageURIPath is the field of an InferenceService that names the artifact.
const storageURIPath = "spec.predictor.model.storageUri"

// runsVersion turns a field finding whose live artifact URI is that of
// another declared version of the model into a version finding: the target
// runs that version, so a pin pull request (onDrift: pr) can propose it,
// with the field's evidence in its message.
func runsVersion(inv *inventory.Inventory, fs []Finding) []Finding {
	for i, f := range fs {
		if f.Field == nil || f.Field.Path != storageURIPath {
			continue
		}
		var uri string
		if json.Unmarshal([]byte(f.Field.Got), &uri) != nil {
			continue
		}
		for _, m := range inv.Models {
			if m.Name != f.Model {
				continue
			}
			for _, v := range slices.Sorted(maps.Keys(m.Versions)) {
				if v != f.Want && m.Versions[v].Artifact.URI == uri {
					fs[i].Got = v
					fs[i].Message = fmt.Sprintf("runs %s (its artifact), want %s: %s", v, f.Want, f.Field)
				}
			}
		}
	}
	return fs
}
