package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cairnops/cairn/forge/githubtest"
	"github.com/cairnops/cairn/internal/gittest"
)

// Script commands that reach fakes living in the test process: the
// stateful GitHub of forge/githubtest and the smart-HTTP git remote of
// internal/gittest. TestScripts registers them through githubScriptCmds and
// githubScriptSetup.
//
//	github-start                       start a fake GitHub; sets GITHUB_API_URL, GITHUB_TOKEN, GITHUB_REPOSITORY
//	github-pr HEAD BASE                open a pull request from branch HEAD into BASE (number 1, 2, ...)
//	github-review N USER STATE SHA     submit a review on pull request N
//	github-team ORG SLUG USER...       add users to the team ORG/SLUG
//	github-merge N HEAD BASE MERGE     pull request N, whose head is sha HEAD, is merged onto sha BASE as commit MERGE
//	github-read-only                   make the token read-only, as for a pull request from a fork:
//	                                   every write to the repository answers 403 as GitHub does
//	github-state status|statuses|comments|writes|prs|deployments
//	                                   print the latest status, every status, the comments, the write count,
//	                                   the pull requests ("#N STATE HEAD -> BASE: TITLE", by number) or the
//	                                   deployments ("ENV REF: STATE... [URL]" and the payload, oldest first)
//	git-serve                          start a smart-HTTP git remote; sets REMOTE to its URL
//	git-sha VAR REV                    set VAR to the sha of REV in the current directory
//	expand SRC DST                     copy SRC to DST, expanding $VARS
//	prometheus-start FILE              start a real Prometheus over OpenMetrics FILE; sets PROMETHEUS_URL
//	                                   (prometheus_script_test.go)
var githubScriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"github-start":     cmdGitHubStart,
	"github-pr":        cmdGitHubPR,
	"github-review":    cmdGitHubReview,
	"github-team":      cmdGitHubTeam,
	"github-merge":     cmdGitHubMerge,
	"github-read-only": cmdGitHubReadOnly,
	"github-state":     cmdGitHubState,
	"git-serve":        cmdGitServe,
	"git-sha":          cmdGitSHA,
	"expand":           cmdExpand,

	"prometheus-start": cmdPrometheusStart,

	"kube-start":     cmdKubeStart,
	"kube-patch":     cmdKubePatch,
	"kube-status":    cmdKubeStatus,
	"kube-get":       cmdKubeGet,
	"artifact-serve": cmdArtifactServe,
	"registry-start": cmdRegistryStart,
	"registry-push":  cmdRegistryPush,
	"registry-blob":  cmdRegistryCorrupt,
}

type scriptTKey struct{}

// githubScriptSetup keeps the script's testing.TB for the fakes, which are
// closed when the script ends.
func githubScriptSetup(env *testscript.Env) {
	env.Values[scriptTKey{}] = env.T()
}

var (
	scriptServersMu sync.Mutex
	scriptServers   = map[*testscript.TestScript]*githubtest.Server{}
)

func scriptTB(ts *testscript.TestScript) testing.TB {
	tb, ok := ts.Value(scriptTKey{}).(testing.TB)
	if !ok {
		ts.Fatalf("no testing.TB: TestScripts must call githubScriptSetup in Setup")
	}
	return tb
}

func scriptServer(ts *testscript.TestScript) *githubtest.Server {
	scriptServersMu.Lock()
	defer scriptServersMu.Unlock()
	s := scriptServers[ts]
	if s == nil {
		ts.Fatalf("no fake GitHub: run github-start first")
	}
	return s
}

func noNeg(ts *testscript.TestScript, neg bool, name string) {
	if neg {
		ts.Fatalf("%s does not support !", name)
	}
}

func cmdGitHubStart(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "github-start")
	s := githubtest.New(scriptTB(ts))
	scriptServersMu.Lock()
	scriptServers[ts] = s
	scriptServersMu.Unlock()
	ts.Defer(func() {
		scriptServersMu.Lock()
		delete(scriptServers, ts)
		scriptServersMu.Unlock()
	})
	ts.Setenv("GITHUB_API_URL", s.URL)
	ts.Setenv("GITHUB_TOKEN", s.Token)
	ts.Setenv("GITHUB_REPOSITORY", s.FullName())
}

func cmdGitHubReadOnly(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "github-read-only")
	if len(args) != 0 {
		ts.Fatalf("usage: github-read-only")
	}
	scriptServer(ts).SetReadOnly(true)
}

func cmdGitHubPR(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "github-pr")
	if len(args) != 2 {
		ts.Fatalf("usage: github-pr HEAD BASE")
	}
	ts.Check(openFakePR(scriptServer(ts), args[0], args[1]))
}

// openFakePR opens a pull request from branch head into base on s, as a
// client of its REST API.
func openFakePR(s *githubtest.Server, head, base string) error {
	body, err := json.Marshal(map[string]string{"title": "Change " + head, "head": head, "base": base})
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, s.URL+"/repos/"+s.FullName()+"/pulls", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("creating pull request: %s", resp.Status)
	}
	return nil
}

func cmdGitHubReview(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "github-review")
	if len(args) != 4 {
		ts.Fatalf("usage: github-review N USER STATE SHA")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	scriptServer(ts).AddReview(n, args[1], args[2], args[3])
}

func cmdGitHubTeam(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "github-team")
	if len(args) < 3 {
		ts.Fatalf("usage: github-team ORG SLUG USER...")
	}
	s := scriptServer(ts)
	for _, u := range args[2:] {
		s.AddTeamMember(args[0], args[1], u)
	}
}

func cmdGitHubMerge(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "github-merge")
	if len(args) != 4 {
		ts.Fatalf("usage: github-merge N HEAD BASE MERGE")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	s := scriptServer(ts)
	s.SetHeadSHA(n, args[1])
	s.MergePull(n, args[2], args[3])
}

func cmdGitHubState(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "github-state")
	if len(args) != 1 {
		ts.Fatalf("usage: github-state status|statuses|comments|writes|prs|bodies|deployments")
	}
	s := scriptServer(ts)
	out := ts.Stdout()
	switch args[0] {
	case "status":
		sts := s.Statuses()
		if len(sts) == 0 {
			fmt.Fprintln(out, "no status")
			return
		}
		st := sts[len(sts)-1]
		fmt.Fprintf(out, "%s %s on %s: %s\n", st.State, st.Context, st.SHA, st.Description)
	case "statuses":
		for _, st := range s.Statuses() {
			fmt.Fprintf(out, "%s %s on %s: %s\n", st.State, st.Context, st.SHA, st.Description)
		}
	case "comments":
		cs := s.Comments()
		fmt.Fprintf(out, "comments: %d\n", len(cs))
		for _, c := range cs {
			fmt.Fprintf(out, "--- comment %d on #%d by %s, %d characters\n%s\n", c.ID, c.Issue, c.Author, len([]rune(c.Body)), c.Body)
		}
	case "writes":
		fmt.Fprintf(out, "writes: %d\n", s.Writes())
	case "bodies":
		for _, p := range s.PRs() {
			fmt.Fprintf(out, "--- #%d\n%s\n", p.Number, p.Body)
		}
	case "prs":
		prs := s.PRs()
		fmt.Fprintf(out, "pull requests: %d\n", len(prs))
		for _, p := range prs {
			fmt.Fprintf(out, "#%d %s %s -> %s: %s\n", p.Number, p.State, p.Head, p.Base, p.Title)
		}
	case "deployments":
		ds := s.Deployments()
		fmt.Fprintf(out, "deployments: %d\n", len(ds))
		for _, d := range ds {
			var states []string
			url := ""
			for _, st := range d.Statuses {
				states = append(states, st.State)
				if st.EnvironmentURL != "" {
					url = " " + st.EnvironmentURL
				}
			}
			fmt.Fprintf(out, "%s %s: %s%s\n  %s: %s\n", d.Environment, d.Ref, strings.Join(states, " "), url, d.Task, d.Payload)
			if n := len(d.Statuses); n > 0 {
				fmt.Fprintf(out, "  %s\n", d.Statuses[n-1].Description)
			}
		}
	default:
		ts.Fatalf("github-state: unknown %q", args[0])
	}
}

func cmdGitServe(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "git-serve")
	r := gittest.NewRemote(scriptTB(ts))
	ts.Setenv("REMOTE", r.URL)
}

func cmdGitSHA(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "git-sha")
	if len(args) != 2 {
		ts.Fatalf("usage: git-sha VAR REV")
	}
	cmd := exec.Command("git", "rev-parse", "--verify", args[1]+"^{commit}")
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = append(os.Environ(), "HOME="+ts.Getenv("HOME"), "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.Output()
	ts.Check(err)
	ts.Setenv(args[0], strings.TrimSpace(string(out)))
}

func cmdExpand(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "expand")
	if len(args) != 2 {
		ts.Fatalf("usage: expand SRC DST")
	}
	data := ts.ReadFile(args[0])
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(os.Expand(data, ts.Getenv)), 0o644))
}
