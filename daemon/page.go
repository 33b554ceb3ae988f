package daemon

import (
	"bytes"
	_ "embed"
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
)

//go:embed page.html
var pageSource string

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"short": short,
	"join":  func(s []string) string { return strings.Join(s, ", ") },
}).Parse(pageSource))

// recentAudit is how many audit entries the page shows, newest first.
const recentAudit = 20

type pageData struct {
	Status   Status
	Stages   []string
	Models   []pageModel
	Audit    []reconciler.AuditEntry
	AuditErr string
}

type pageModel struct {
	Name, Title, Risk string
	Owners            []string
	Retired, Valid    bool
	Pins              []pagePin
	// Signatures is the signature state of each pinned version, once each.
	Signatures []pagePin
}

type pagePin struct {
	Stage, Version, Signature string
}

// page renders the inventory of the last loaded revision.
func (d *Daemon) page(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	inv, res := d.st.inv, d.st.result
	d.mu.Unlock()
	data := pageData{Status: d.Status()}
	if inv != nil {
		data.Stages = inv.Settings.Stages
		data.Models = pageModels(inv, res)
	}
	audit, err := reconciler.Audit(d.opts.StateDir)
	if err != nil {
		data.AuditErr = err.Error()
	}
	if len(audit) > recentAudit {
		audit = audit[len(audit)-recentAudit:]
	}
	slices.Reverse(audit)
	data.Audit = audit
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, data); err != nil {
		d.log.Error("rendering page", "error", err.Error())
		http.Error(w, "rendering page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// pageModels lists the models with their pins in stage order and the
// signature state of each pinned version: as the last apply verified it,
// else whether a bundle exists.
func pageModels(inv *inventory.Inventory, res *reconciler.Result) []pageModel {
	checks := map[string]gate.Signature{}
	if res != nil && res.Revision == inv.Source.Revision {
		for _, c := range res.Signatures {
			checks[c.Model+"@"+c.Version] = c
		}
	}
	order := map[string]int{}
	for i, s := range inv.Settings.Stages {
		order[s] = i
	}
	out := make([]pageModel, 0, len(inv.Models))
	for _, m := range inv.Models {
		pm := pageModel{Name: m.Name, Valid: m.Valid, Retired: m.Retired, Title: m.Card.Title, Risk: m.Card.Risk.Tier, Owners: m.Card.Owners}
		stages := make([]string, 0, len(m.Stages))
		for s := range m.Stages {
			stages = append(stages, s)
		}
		sort.Slice(stages, func(i, j int) bool {
			if order[stages[i]] != order[stages[j]] {
				return order[stages[i]] < order[stages[j]]
			}
			return stages[i] < stages[j]
		})
		seen := map[string]bool{}
		for _, s := range stages {
			v := m.Stages[s]
			pm.Pins = append(pm.Pins, pagePin{Stage: s, Version: v})
			if !seen[v] {
				seen[v] = true
				pm.Signatures = append(pm.Signatures, pagePin{Version: v, Signature: signatureState(inv, checks, m.Name, v)})
			}
		}
		out = append(out, pm)
	}
	return out
}

func signatureState(inv *inventory.Inventory, checks map[string]gate.Signature, model, version string) string {
	if c, ok := checks[model+"@"+version]; ok {
		switch c.Status {
		case gate.SignatureOK:
			return "verified: " + c.Identity
		case gate.SignatureInvalid:
			return "invalid: " + c.Reason
		}
	}
	if _, err := inv.Source.ReadFile(inventory.BundlePath(model, version)); err == nil {
		return "signed (not verified)"
	}
	return "unsigned"
}
