package schema

// Model is an evaluated model: the unification of a model folder, the
// inventory's model defaults and #Model.
type Model struct {
	Card     Card                `json:"card"`
	Versions map[string]*Version `json:"versions"`
	Stages   map[string]string   `json:"stages"`
	Retired  bool                `json:"retired,omitempty"`
	Monitors map[string]*Monitor `json:"monitors,omitempty"`
}

// Card is a model card.
type Card struct {
	Title       string      `json:"title"`
	Description string      `json:"description"`
	Owners      []string    `json:"owners"`
	Risk        Risk        `json:"risk"`
	IntendedUse string      `json:"intendedUse"`
	OutOfScope  []string    `json:"outOfScope,omitempty"`
	Limitations []string    `json:"limitations"`
	License     string      `json:"license"`
	Framework   string      `json:"framework"`
	Task        string      `json:"task,omitempty"`
	Data        Data        `json:"data"`
	IO          *IO         `json:"io,omitempty"`
	Privacy     *Privacy    `json:"privacy,omitempty"`
	Review      Review      `json:"review"`
	Validation  *Validation `json:"validation,omitempty"`
}

// Risk is a model's risk classification and its assessment.
type Risk struct {
	Tier       string `json:"tier"`
	Assessment string `json:"assessment,omitempty"`
	AssessedBy string `json:"assessedBy,omitempty"`
	AssessedAt string `json:"assessedAt,omitempty"`
}

// Data lists the datasets a model was trained and evaluated on.
type Data struct {
	Training   []Dataset `json:"training"`
	Evaluation []Dataset `json:"evaluation,omitempty"`
}

// Dataset is one dataset reference.
type Dataset struct {
	URI     string `json:"uri"`
	Digest  string `json:"digest,omitempty"`
	PII     bool   `json:"pii"`
	License string `json:"license,omitempty"`
}

// IO describes a model's inputs and outputs.
type IO struct {
	Inputs  []Field `json:"inputs"`
	Outputs []Field `json:"outputs"`
}

// Field is one input or output field.
type Field struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
}

// Privacy holds privacy documents.
type Privacy struct {
	DPIA string `json:"dpia,omitempty"`
}

// Review records when a card was last reviewed and how often it must be.
type Review struct {
	LastReviewed string `json:"lastReviewed"`
	Reviewer     string `json:"reviewer,omitempty"`
	IntervalDays int    `json:"intervalDays"`
}

// Validation points at a model's validation report.
type Validation struct {
	Report string `json:"report"`
	By     string `json:"by,omitempty"`
	At     string `json:"at,omitempty"`
}

// Version is one pinned version of a model.
type Version struct {
	Artifact  Artifact           `json:"artifact"`
	Metrics   map[string]float64 `json:"metrics,omitempty"`
	TrainedAt string             `json:"trainedAt,omitempty"`
	Code      *Code              `json:"code,omitempty"`
	Run       string             `json:"run,omitempty"`
	Serving   *Serving           `json:"serving,omitempty"`
}

// Serving is how a kserve target serves a version.
type Serving struct {
	Format          string     `json:"format,omitempty"`
	Runtime         string     `json:"runtime,omitempty"`
	ProtocolVersion string     `json:"protocolVersion,omitempty"`
	Resources       *Resources `json:"resources,omitempty"`
}

// Resources are the Kubernetes resource requests and limits of a version's
// predictor, by resource name ("cpu", "memory", "nvidia.com/gpu").
type Resources struct {
	Requests map[string]string `json:"requests,omitempty"`
	Limits   map[string]string `json:"limits,omitempty"`
}

// Artifact is where a version's bytes live and what they hash to.
type Artifact struct {
	URI    string `json:"uri"`
	Digest string `json:"digest"`
	Size   int64  `json:"size,omitempty"`
}

// Code points at the code that trained a version.
type Code struct {
	Repo   string `json:"repo"`
	Commit string `json:"commit"`
}

// Monitor is one monitored metric of a model, with defaults applied.
type Monitor struct {
	Query  string   `json:"query"`
	Source string   `json:"source"`
	Min    *float64 `json:"min,omitempty"`
	Max    *float64 `json:"max,omitempty"`
	For    string   `json:"for"`
	Stage  string   `json:"stage"`
	Action string   `json:"action"`
	Kind   string   `json:"kind,omitempty"`
}

// Settings are the repository settings of inventory.cue, with defaults applied.
type Settings struct {
	Stages    []string            `json:"stages"`
	Targets   map[string]Target   `json:"targets"`
	Approvals map[string]Approval `json:"approvals,omitempty"`
	Signing   Signing             `json:"signing"`
	Sources   map[string]Source   `json:"sources,omitempty"`
	GitHub    *GitHub             `json:"github,omitempty"`
	Rules     map[string]Rule     `json:"rules,omitempty"`
}

// Target is a deployment target. Driver settings beyond the common fields
// are kept in Config, as decoded JSON.
type Target struct {
	Stage   string `json:"stage"`
	Kind    string `json:"kind"`
	OnDrift string `json:"onDrift"`
	// URL is where the target serves its models, if it says.
	URL    string         `json:"url,omitempty"`
	Config map[string]any `json:"-"`
}

// Approval is how many approvals a stage change needs and from whom.
type Approval struct {
	Min    int                     `json:"min"`
	From   []string                `json:"from,omitempty"`
	ByRisk map[string]RiskApproval `json:"byRisk,omitempty"`
}

// RiskApproval overrides an Approval for one risk tier.
type RiskApproval struct {
	Min  int      `json:"min"`
	From []string `json:"from,omitempty"`
}

// Signing lists the stages whose versions must carry a valid signature.
type Signing struct {
	Required []string `json:"required"`
}

// Source is a metric source for monitors.
type Source struct {
	Kind string `json:"kind"`
	URL  string `json:"url"`
}

// GitHub names the inventory's GitHub repository.
type GitHub struct {
	Repository string `json:"repository"`
	Base       string `json:"base"`
	// Deployments records each apply to a target as a GitHub deployment.
	Deployments bool `json:"deployments"`
}

// Rule is a per-rule override of inventory.cue.
type Rule struct {
	Severity string `json:"severity,omitempty"`
}
