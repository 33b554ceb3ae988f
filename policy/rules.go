package policy

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cairnops/cairn/internal/keys"
	"github.com/cairnops/cairn/schema"
)

var digestPattern = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// mutableRefs are names that point at whatever was pushed last.
var mutableRefs = map[string]bool{"latest": true, "main": true, "master": true, "develop": true, "dev": true, "trunk": true, "head": true, "nightly": true}

// allowedSchemes are the artifact URI schemes Cairn can fetch and pin.
var allowedSchemes = map[string]bool{"file": true, "https": true, "oci": true, "s3": true}

// productionStage is the last stage of the promotion path.
func (c *checkContext) productionStage() string {
	if s := c.inv.Settings.Stages; len(s) > 0 {
		return s[len(s)-1]
	}
	return "production"
}

// versionPath writes a version's field path as CUE does, e.g. versions."2.3.0".artifact.uri.
func versionPath(v string, rest ...string) string {
	return strings.Join(append([]string{"versions." + strconv.Quote(v)}, rest...), ".")
}

func checkPinDigest(c *checkContext) []Finding {
	var out []Finding
	for _, m := range c.inv.Models {
		if !m.Valid {
			continue
		}
		for _, v := range keys.Sorted(m.Versions) {
			a := m.Versions[v].Artifact
			if !digestPattern.MatchString(a.Digest) {
				out = append(out, finding("pin-digest", m.Name, m.Pos("versions", v, "artifact", "digest"),
					fmt.Sprintf("%s: pin the artifact with its sha256 digest, \"sha256:<64 hex digits>\"", versionPath(v, "artifact", "digest"))))
			}
			if reason := mutableURI(a.URI); reason != "" {
				out = append(out, finding("pin-digest", m.Name, m.Pos("versions", v, "artifact", "uri"),
					fmt.Sprintf("%s: %q %s", versionPath(v, "artifact", "uri"), a.URI, reason)))
			}
		}
	}
	return out
}

// mutableURI returns why uri is not an immutable artifact location, or "".
func mutableURI(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" {
		return "is not a URI; use file://, https://, oci:// or s3://"
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme == "http":
		return "uses plain http, which anyone on the path can change; use https://"
	case !allowedSchemes[scheme]:
		return fmt.Sprintf("uses scheme %s://; use file://, https://, oci:// or s3://", scheme)
	case scheme == "file":
		// The file is content of the inventory's own revision.
		return ""
	case scheme == "oci":
		// The schema check owns oci:// pins (inventory.ParseOCI): one
		// without its manifest digest never gets here.
		return ""
	}
	if strings.Contains(u.Path, "/refs/heads/") {
		return "names a branch (refs/heads/), which moves; pin a tag, a commit or a release asset"
	}
	for _, seg := range strings.Split(u.Path, "/") {
		s := strings.ToLower(seg)
		if i := strings.LastIndex(s, "@"); i >= 0 && mutableRefs[s[i+1:]] {
			return fmt.Sprintf("names the moving reference @%s; pin a tag, a commit or a release asset", seg[i+1:])
		}
		if i := strings.LastIndex(s, ":"); i >= 0 && mutableRefs[s[i+1:]] {
			return fmt.Sprintf("names the moving tag :%s; pin a tag, a commit or a release asset", seg[i+1:])
		}
		if mutableRefs[s] {
			return fmt.Sprintf("names the moving reference %q (a branch or latest); pin a tag, a commit or a release asset", seg)
		}
	}
	for _, vals := range u.Query() {
		for _, val := range vals {
			if mutableRefs[strings.ToLower(val)] {
				return fmt.Sprintf("asks for the moving reference %q; pin a tag, a commit or a release asset", val)
			}
		}
	}
	return ""
}

func checkPromotionPath(c *checkContext) []Finding {
	base := c.opts.Base
	if base == nil {
		return nil
	}
	stages := c.inv.Settings.Stages
	var out []Finding
	for _, m := range c.inv.Models {
		if !m.Valid {
			continue
		}
		var before map[string]string
		if bm := base.Model(m.Name); bm != nil {
			if !bm.Valid {
				continue // Its stages at base are unknown.
			}
			before = bm.Stages
		}
		for n, stage := range stages {
			v, ok := m.Stages[stage]
			if !ok || n == 0 || before[stage] == v {
				continue
			}
			// A version may enter stage n from stage n-1, or come back from
			// a later stage it already passed (a rollback).
			passed := false
			for _, s := range stages[n-1:] {
				if before[s] == v {
					passed = true
				}
			}
			if passed {
				continue
			}
			prev := stages[n-1]
			was := "no version"
			if bv, ok := before[prev]; ok {
				was = strconv.Quote(bv)
			}
			out = append(out, finding("promotion-path", m.Name, m.Pos("stages", stage),
				fmt.Sprintf("stages.%s: version %q enters %s without passing %s (at base %s ran %s); promote it to %s first",
					stage, v, stage, prev, prev, was, prev)))
		}
	}
	return out
}

func checkVersionImmutable(c *checkContext) []Finding {
	base := c.opts.Base
	if base == nil {
		return nil
	}
	var out []Finding
	for _, m := range c.inv.Models {
		bm := base.Model(m.Name)
		if !m.Valid || bm == nil || !bm.Valid {
			continue
		}
		for _, v := range keys.Sorted(bm.Versions) {
			was := bm.Versions[v].Artifact
			now, ok := m.Versions[v]
			if !ok {
				var users []string
				for _, s := range keys.Sorted(bm.Stages) {
					if bm.Stages[s] == v {
						users = append(users, s)
					}
				}
				if len(users) > 0 {
					slices.SortStableFunc(users, func(a, b string) int {
						return stageIndex(c.inv.Settings.Stages, a) - stageIndex(c.inv.Settings.Stages, b)
					})
					out = append(out, finding("version-immutable", m.Name, m.Pos("versions"),
						fmt.Sprintf("versions: version %q is deleted but %s ran it at base; keep the version so its deployments stay traceable and can be rolled back to", v, strings.Join(users, ", "))))
				}
				continue
			}
			if now.Artifact.Digest != was.Digest {
				out = append(out, finding("version-immutable", m.Name, m.Pos("versions", v, "artifact", "digest"),
					fmt.Sprintf("%s: the digest of version %s changed from %s; a published version never changes, add a new version instead", versionPath(v, "artifact", "digest"), v, was.Digest)))
			}
			if now.Artifact.URI != was.URI {
				out = append(out, finding("version-immutable", m.Name, m.Pos("versions", v, "artifact", "uri"),
					fmt.Sprintf("%s: the artifact URI of version %s changed from %q; a published version never changes, add a new version instead", versionPath(v, "artifact", "uri"), v, was.URI)))
			}
		}
	}
	return out
}

// parseDate reads an RFC 3339 date or date-time.
func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

func checkReviewDue(c *checkContext) []Finding {
	var out []Finding
	for _, m := range c.inv.Models {
		if !m.Valid || m.Retired {
			continue
		}
		r := m.Card.Review
		last, err := parseDate(r.LastReviewed)
		// Model.Pos may read the files again: ask only for a finding.
		if err != nil {
			out = append(out, finding("review-due", m.Name, m.Pos("card", "review", "lastReviewed"),
				fmt.Sprintf("card.review.lastReviewed: %q is not an RFC 3339 date; write it as YYYY-MM-DD", r.LastReviewed)))
			continue
		}
		days := r.IntervalDays
		if days <= 0 {
			days = 365
		}
		due := last.AddDate(0, 0, days)
		if !c.opts.Now.After(due) {
			continue
		}
		late := int(c.opts.Now.Sub(due).Hours() / 24)
		out = append(out, finding("review-due", m.Name, m.Pos("card", "review", "lastReviewed"),
			fmt.Sprintf("card.review.lastReviewed: the review was due on %s (%d days ago; interval %d days); review the card and set lastReviewed to the review date",
				due.Format(time.DateOnly), late, days)))
	}
	return out
}

func checkRiskAssessment(c *checkContext) []Finding {
	prod := c.productionStage()
	var out []Finding
	for _, m := range c.inv.Models {
		if !m.Valid {
			continue
		}
		tier := m.Card.Risk.Tier
		if _, live := m.Stages[prod]; !live || (tier != "high" && tier != "critical") {
			continue
		}
		if m.Card.Risk.Assessment == "" {
			out = append(out, finding("risk-assessment", m.Name, m.Pos("card", "risk", "tier"),
				fmt.Sprintf("card.risk: a %s-risk model in %s needs risk.assessment; link its risk assessment document", tier, prod)))
		}
		if m.Card.Validation == nil || m.Card.Validation.Report == "" {
			out = append(out, finding("risk-assessment", m.Name, m.Pos("card", "validation"),
				fmt.Sprintf("card: a %s-risk model in %s needs validation; add card.validation: {report: \"<path or URL>\", by: \"<validator>\"}", tier, prod)))
		}
	}
	return out
}

func checkPIIDPIA(c *checkContext) []Finding {
	var out []Finding
	for _, m := range c.inv.Models {
		if !m.Valid || (m.Card.Privacy != nil && m.Card.Privacy.DPIA != "") {
			continue
		}
		sets := []struct {
			name string
			ds   []schema.Dataset
		}{{"training", m.Card.Data.Training}, {"evaluation", m.Card.Data.Evaluation}}
	found:
		for _, s := range sets {
			for i, d := range s.ds {
				if d.PII {
					out = append(out, finding("pii-dpia", m.Name, m.Pos("card", "data", s.name, strconv.Itoa(i), "pii"),
						fmt.Sprintf("card.data.%s.%d.pii: dataset %s holds personal data; add card.privacy.dpia with the path or URL of the data protection impact assessment", s.name, i, d.URI)))
					break found
				}
			}
		}
	}
	return out
}

func checkMonitors(c *checkContext) []Finding {
	prod := c.productionStage()
	var out []Finding
	for _, m := range c.inv.Models {
		if !m.Valid {
			continue
		}
		if _, live := m.Stages[prod]; !live {
			continue
		}
		have := map[string]bool{}
		for _, mon := range m.Monitors {
			if mon.Stage == prod || mon.Stage == "" {
				have[mon.Kind] = true
			}
		}
		var missing []string
		for _, k := range []string{"performance", "drift"} {
			if !have[k] {
				missing = append(missing, k)
			}
		}
		if len(missing) == 0 {
			continue
		}
		pos := m.Pos("monitors")
		if len(m.Monitors) == 0 {
			pos = m.Pos("stages", prod)
		}
		var adds []string
		for _, k := range missing {
			adds = append(adds, fmt.Sprintf("a monitor with kind: %q", k))
		}
		out = append(out, finding("monitors", m.Name, pos,
			fmt.Sprintf("monitors: the model runs in %s without a %s monitor; add %s (stage %q)", prod, strings.Join(missing, " or "), strings.Join(adds, " and "), prod)))
	}
	return out
}

func checkRetired(c *checkContext) []Finding {
	var out []Finding
	for _, m := range c.inv.Models {
		if !m.Valid || !m.Retired || len(m.Stages) == 0 {
			continue
		}
		stages := keys.Sorted(m.Stages)
		// Order by the promotion path where the stages are declared.
		slices.SortStableFunc(stages, func(a, b string) int {
			return stageIndex(c.inv.Settings.Stages, a) - stageIndex(c.inv.Settings.Stages, b)
		})
		out = append(out, finding("retired", m.Name, m.Pos("retired"),
			fmt.Sprintf("retired: the model is retired but still runs in %s; remove its stages so the reconciler removes it from every target", strings.Join(stages, ", "))))
	}
	return out
}

func stageIndex(stages []string, s string) int {
	if i := slices.Index(stages, s); i >= 0 {
		return i
	}
	return len(stages)
}
