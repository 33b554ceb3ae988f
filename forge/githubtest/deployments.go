package githubtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"
)

// Deployment is a deployment created through the API, with its statuses.
type Deployment struct {
	ID          int64
	Ref         string
	SHA         string
	Environment string
	Task        string
	Description string
	// Payload is the payload as sent: a JSON object, or a JSON string.
	Payload  json.RawMessage
	Statuses []DeploymentStatus
}

// DeploymentStatus is one status of a deployment.
type DeploymentStatus struct {
	ID             int64
	State          string
	Description    string
	EnvironmentURL string
	LogURL         string
}

// Deployments returns every deployment with its statuses, oldest first.
func (s *Server) Deployments() []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Deployment, 0, len(s.deployments))
	for _, d := range s.deployments {
		c := *d
		c.Statuses = append([]DeploymentStatus(nil), d.Statuses...)
		out = append(out, c)
	}
	return out
}

var shaRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

// deploymentStates are the states GitHub documents for a deployment status.
var deploymentStates = map[string]bool{
	"error": true, "failure": true, "inactive": true, "in_progress": true,
	"queued": true, "pending": true, "success": true,
}

func (s *Server) deploymentJSON(d *Deployment) map[string]any {
	base := s.URL + "/repos/" + s.FullName()
	var payload any = map[string]any{}
	if len(d.Payload) > 0 {
		payload = d.Payload
	}
	at := ts(epoch.Add(time.Duration(d.ID) * time.Second))
	return map[string]any{
		"url": fmt.Sprintf("%s/deployments/%d", base, d.ID), "id": d.ID, "node_id": fmt.Sprintf("DE_%d", d.ID),
		"sha": d.SHA, "ref": d.Ref, "task": d.Task, "payload": payload,
		"original_environment": d.Environment, "environment": d.Environment, "description": d.Description,
		"creator": s.userJSON(s.Login), "created_at": at, "updated_at": at,
		"statuses_url":          fmt.Sprintf("%s/deployments/%d/statuses", base, d.ID),
		"repository_url":        base,
		"transient_environment": false, "production_environment": d.Environment == "production",
	}
}

// createDeployment answers POST /repos/{o}/{r}/deployments as GitHub does:
// 422 without a ref or for a ref that names no branch and is no sha;
// 409 when auto_merge (default true) would have GitHub merge the default
// branch into a sha it cannot move; 409 when the commit statuses of
// required_contexts (default: every context on the commit) are not all
// success.
func (s *Server) createDeployment(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Ref              string          `json:"ref"`
		Task             *string         `json:"task"`
		AutoMerge        *bool           `json:"auto_merge"`
		RequiredContexts *[]string       `json:"required_contexts"`
		Payload          json.RawMessage `json:"payload"`
		Environment      *string         `json:"environment"`
		Description      *string         `json:"description"`
		Transient        *bool           `json:"transient_environment"`
		Production       *bool           `json:"production_environment"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.Ref == "" {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
			apiError{Resource: "Deployment", Field: "ref", Code: "missing_field"})
		return
	}
	sha, isBranch, err := s.branchSHA(in.Ref)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	switch {
	case shaRE.MatchString(in.Ref):
		sha, isBranch = in.Ref, false
	case !isBranch:
		writeError(w, http.StatusUnprocessableEntity, "No ref found for: "+in.Ref)
		return
	}
	if sha == "" {
		sha = in.Ref
	}
	if in.AutoMerge == nil || *in.AutoMerge {
		main, ok, _ := s.branchSHA("main")
		if !isBranch && (!ok || main != sha) {
			writeError(w, http.StatusConflict, fmt.Sprintf("Conflict merging main into %s.", in.Ref))
			return
		}
	}
	latest := s.latestStatuses(sha)
	var failed []string
	if in.RequiredContexts == nil {
		for _, st := range latest {
			if st.State != "success" {
				failed = append(failed, st.Context)
			}
		}
	} else {
		for _, c := range *in.RequiredContexts {
			ok := false
			for _, st := range latest {
				ok = ok || (st.Context == c && st.State == "success")
			}
			if !ok {
				failed = append(failed, c)
			}
		}
	}
	if len(failed) > 0 {
		writeError(w, http.StatusConflict, fmt.Sprintf("Conflict: Commit status checks failed for %s.", in.Ref))
		return
	}
	if len(in.Payload) > 0 && string(in.Payload) != "null" {
		var obj map[string]json.RawMessage
		var str string
		if json.Unmarshal(in.Payload, &obj) != nil && json.Unmarshal(in.Payload, &str) != nil {
			writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
				apiError{Resource: "Deployment", Field: "payload", Code: "invalid"})
			return
		}
	}
	d := &Deployment{Ref: in.Ref, SHA: sha, Task: "deploy", Environment: "production", Payload: in.Payload}
	if in.Task != nil {
		d.Task = *in.Task
	}
	if in.Environment != nil {
		d.Environment = *in.Environment
	}
	if in.Description != nil {
		d.Description = *in.Description
	}
	s.nextID++
	d.ID = s.nextID
	s.deployments = append(s.deployments, d)
	writeJSON(w, http.StatusCreated, s.deploymentJSON(d))
}

// createDeploymentStatus answers POST /repos/{o}/{r}/deployments/{id}/statuses:
// 404 for an unknown deployment, 422 for a state GitHub does not document
// or a description over 140 characters.
func (s *Server) createDeploymentStatus(w http.ResponseWriter, r *http.Request, idStr string) {
	id, err := strconv.ParseInt(idStr, 10, 64)
	var d *Deployment
	for _, dd := range s.deployments {
		if err == nil && dd.ID == id {
			d = dd
		}
	}
	if d == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	var in struct {
		State          string `json:"state"`
		Description    string `json:"description"`
		EnvironmentURL string `json:"environment_url"`
		LogURL         string `json:"log_url"`
		TargetURL      string `json:"target_url"`
		Environment    string `json:"environment"`
		AutoInactive   *bool  `json:"auto_inactive"`
	}
	if !decode(w, r, &in) {
		return
	}
	if !deploymentStates[in.State] {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
			apiError{Resource: "DeploymentStatus", Field: "state", Code: "invalid"})
		return
	}
	if len([]rune(in.Description)) > 140 {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
			apiError{Resource: "DeploymentStatus", Field: "description", Code: "custom", Message: "description is too long (maximum is 140 characters)"})
		return
	}
	s.nextID++
	st := DeploymentStatus{ID: s.nextID, State: in.State, Description: in.Description, EnvironmentURL: in.EnvironmentURL, LogURL: in.LogURL}
	d.Statuses = append(d.Statuses, st)
	base := s.URL + "/repos/" + s.FullName()
	at := ts(epoch.Add(time.Duration(st.ID) * time.Second))
	writeJSON(w, http.StatusCreated, map[string]any{
		"url": fmt.Sprintf("%s/deployments/%d/statuses/%d", base, d.ID, st.ID), "id": st.ID,
		"node_id": fmt.Sprintf("DES_%d", st.ID), "state": st.State, "creator": s.userJSON(s.Login),
		"description": st.Description, "environment": d.Environment, "target_url": st.LogURL,
		"log_url": st.LogURL, "environment_url": st.EnvironmentURL, "created_at": at, "updated_at": at,
		"deployment_url": fmt.Sprintf("%s/deployments/%d", base, d.ID), "repository_url": base,
	})
}
