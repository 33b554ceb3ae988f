package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/cairnops/cairn/daemon"
	"github.com/cairnops/cairn/forge"
	"github.com/cairnops/cairn/internal/kubeevents"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/receipt"
	"github.com/cairnops/cairn/reconciler"
)

// shutdownTimeout bounds how long open HTTP requests may finish after SIGTERM.
const shutdownTimeout = 10 * time.Second

type daemonOptions struct {
	*globalOptions
	signatureOptions
	receiptKeyOptions
	prs               driftPRsOptions // --open-prs, --prometheus-url, GitHub connection: drift_prs.go
	repo              string
	branch            string
	stateDir          string
	listen            string
	interval          time.Duration
	driftInterval     time.Duration
	webhookSecretFile string
	logFormat         string
	targetRoot        string
	kubeconfig        string
	leaderElect       bool
	leaseNamespace    string
	leaseDuration     time.Duration
	renewDeadline     time.Duration
	retryPeriod       time.Duration
}

// serviceAccountNamespace is where a pod finds its own namespace.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

func newDaemonCmd(g *globalOptions, runF func(context.Context, *daemonOptions) error) *cobra.Command {
	opts := &daemonOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Follow the inventory's branch and keep the targets applied",
		Long: `Daemon is the long-running reconciler. With --repo URL it clones the
repository bare into <state-dir>/repo and fetches --branch every --interval
and on a signed GitHub push webhook (POST /hooks/github, X-Hub-Signature-256
with the secret of --webhook-secret-file); the inventory is read from the
branch tip, never checked out. With --repo PATH it reads the work tree of
PATH and reconciles when files change.

Each new revision is loaded, validated, verified and applied to every target
under <state-dir>/targets, as 'cairn apply' does; a revision with errors is
not applied and the last good one stays. Every --drift-interval the targets
are observed (onDrift heal targets re-applied) and monitors evaluated; with
--open-prs findings are answered with pull requests.

HTTP on --listen: /healthz, /readyz, /metrics, /api/v1/status and a page
at /. SIGTERM finishes the apply in hand and exits 0. Every audit entry is
also written to stdout as a JSON line.

With --leader-elect several replicas share the work: the one that holds
the Lease "cairn" in --leader-election-namespace (default: the pod's own)
fetches, applies, heals and opens pull requests; the others serve the page,
/api/v1/status (naming the leader), /metrics (cairn_leader 0) and the
probes. The cluster is reached with --kubeconfig, KUBECONFIG, ~/.kube/config
or the pod's service account. SIGTERM finishes the apply in hand, then
releases the lease so that another replica takes over at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runDaemon(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.repo, "repo", "", "the inventory: a git remote `URL` or a local directory")
	fs.StringVar(&opts.branch, "branch", "main", "the `BRANCH` followed on a remote")
	fs.StringVar(&opts.stateDir, "state-dir", "", "keep the clone, targets.json, audit.jsonl and the targets in `DIR`")
	fs.StringVar(&opts.listen, "listen", "127.0.0.1:8080", "serve HTTP on `ADDR`")
	fs.DurationVar(&opts.interval, "interval", time.Minute, "fetch the remote every `DURATION`")
	fs.DurationVar(&opts.driftInterval, "drift-interval", 5*time.Minute, "observe targets and monitors every `DURATION`")
	fs.StringVar(&opts.webhookSecretFile, "webhook-secret-file", "", "verify GitHub webhooks with the secret in `FILE` (without it every webhook is refused)")
	fs.StringVar(&opts.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&opts.targetRoot, "target-root", "", "resolve local target paths under `DIR` (default <state-dir>/targets)")
	fs.StringVar(&opts.kubeconfig, "kubeconfig", "", "reach kserve targets and the leader election's Lease with the kubeconfig `FILE` (default $KUBECONFIG, ~/.kube/config, or the in-cluster service account); never a file of the repository")
	fs.BoolVar(&opts.leaderElect, "leader-elect", false, "work only while holding the Lease \"cairn\" (several replicas, one leader)")
	fs.StringVar(&opts.leaseNamespace, "leader-election-namespace", "", "the Lease's `NAMESPACE` (default: the pod's own)")
	fs.DurationVar(&opts.leaseDuration, "leader-election-lease-duration", daemon.DefaultLeaseDuration, "followers take the lease this `DURATION` after the leader's last renewal")
	fs.DurationVar(&opts.renewDeadline, "leader-election-renew-deadline", daemon.DefaultRenewDeadline, "the leader stops leading when it could not renew for this `DURATION`")
	fs.DurationVar(&opts.retryPeriod, "leader-election-retry-period", daemon.DefaultRetryPeriod, "replicas try to take or renew the lease every `DURATION`")
	opts.signatureOptions.AddFlags(fs)
	opts.receiptKeyOptions.AddFlags(fs)
	opts.prs.AddFlags(fs)
	return cmd
}

func runDaemon(ctx context.Context, opts *daemonOptions) error {
	if os.Getenv("GOGC") == "" {
		// A daemon runs for months: it trades some CPU for a heap that
		// stays close to what is live (the soak of issue 18 ran at 50).
		debug.SetGCPercent(daemonGCPercent)
	}
	logger, err := newLogger(opts.stderr, opts.logFormat)
	if err != nil {
		return err
	}
	if opts.repo == "" || opts.stateDir == "" {
		return usageError(errors.New("daemon needs --repo URL|PATH and --state-dir DIR"))
	}
	if opts.interval <= 0 || opts.driftInterval <= 0 {
		return usageError(errors.New("--interval and --drift-interval must be positive"))
	}
	if err := opts.signatureOptions.check(); err != nil {
		return err
	}
	stateDir, err := filepath.Abs(opts.stateDir)
	if err != nil {
		return usageError(err)
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return usageError(fmt.Errorf("--state-dir: %w", err))
	}
	var secret []byte
	if opts.webhookSecretFile != "" {
		b, err := os.ReadFile(opts.webhookSecretFile)
		if err != nil {
			return usageError(fmt.Errorf("--webhook-secret-file: %w", err))
		}
		if secret = []byte(strings.TrimSpace(string(b))); len(secret) == 0 {
			return usageError(fmt.Errorf("--webhook-secret-file: %s is empty", opts.webhookSecretFile))
		}
	}
	// Trust roots must come from outside the inventory: the work tree of a
	// local --repo, or the state directory that holds a remote's clone.
	trustSrc := &inventory.Source{Dir: stateDir}
	if fi, err := os.Stat(opts.repo); err == nil && fi.IsDir() {
		if trustSrc, err = inventory.OpenWorktree(opts.repo); err != nil {
			return usageError(err)
		}
	}
	trust, err := opts.trust(trustSrc)
	if err != nil {
		return err
	}
	kube, err := kubeCredentials(trustSrc, opts.kubeconfig)
	if err != nil {
		return err
	}
	creds, err := opts.registry.credentials(trustSrc)
	if err != nil {
		return err
	}
	le, err := opts.leaderElection(kube, logger)
	if err != nil {
		return err
	}
	// Applies, heals and refusals on kserve targets become Events in the
	// targets' clusters.
	events := kubeevents.New(kube)
	defer events.Stop()
	dopts := daemon.Options{
		TargetRoot: opts.targetRoot, Audit: opts.stdout, LeaderElection: le,
		Repo: opts.repo, Branch: opts.branch, StateDir: stateDir,
		Interval: opts.interval, DriftInterval: opts.driftInterval, WebhookSecret: secret,
		Trust: trust, Registry: creds, PrometheusURL: opts.prs.prometheusURL,
		HTTPClient: &http.Client{Timeout: 10 * time.Minute}, Logger: logger, Now: nowFunc,
		Load: inventory.Options{Isolate: evalIsolation(opts.globalOptions), Cache: evalCache(opts.globalOptions)}, Kube: kube,
	}
	if opts.prs.openPRs {
		dopts.Forge = func(ctx context.Context, inv *inventory.Inventory) (*forge.Client, error) {
			return opts.prs.githubClient(ctx, inv, opts.stderr)
		}
	}
	dopts.Events = events
	signer, err := receiptSigner(ctx, opts.receiptKey, trustSrc)
	if err != nil {
		return err
	}
	if signer != nil {
		conn, err := opts.prs.conn()
		if err != nil {
			return err
		}
		dopts.Receipts = func() reconciler.Receipts {
			is, err := receipt.New(receipt.Options{Signer: signer, StateDir: stateDir, GitHub: conn.client, Load: dopts.Load})
			if err != nil {
				logger.Error("receipts", "error", err.Error())
				return nil
			}
			return is
		}
	}
	d, err := daemon.New(dopts)
	if err != nil {
		return usageError(err)
	}
	ln, err := net.Listen("tcp", opts.listen)
	if err != nil {
		return usageError(fmt.Errorf("--listen: %w", err))
	}
	srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String())

	runErr := d.Run(ctx)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("http shutdown", "error", err.Error())
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		runErr = errors.Join(runErr, err)
	}
	if runErr != nil {
		return usageError(runErr)
	}
	logger.Info("stopped")
	return nil
}

// newLogger returns a slog logger writing text or JSON to w.
func newLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	default:
		return nil, usageError(fmt.Errorf("--log-format %q: want text or json", format))
	}
}

// leaderElection returns the leader election of --leader-elect, nil
// without it; kube loads the cluster credentials (kubeCredentials).
func (opts *daemonOptions) leaderElection(kube func(string) (*rest.Config, error), logger *slog.Logger) (*daemon.LeaderElection, error) {
	if !opts.leaderElect {
		return nil, nil
	}
	cfg, err := kube("")
	if err != nil {
		return nil, usageError(fmt.Errorf("--leader-elect: %w", err))
	}
	// client-go's own log lines (leader election) go to the daemon's log.
	klog.SetSlogLogger(logger)
	ns := opts.leaseNamespace
	if ns == "" {
		b, err := os.ReadFile(serviceAccountNamespace)
		if ns = strings.TrimSpace(string(b)); err != nil || ns == "" {
			return nil, usageError(errors.New("--leader-elect: not in a pod (no " + serviceAccountNamespace + "): pass --leader-election-namespace"))
		}
	}
	identity := os.Getenv("POD_NAME")
	if identity == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, usageError(fmt.Errorf("--leader-elect: %w", err))
		}
		identity = host + "_" + strconv.Itoa(os.Getpid())
	}
	return &daemon.LeaderElection{Config: cfg, Namespace: ns, Identity: identity,
		LeaseDuration: opts.leaseDuration, RenewDeadline: opts.renewDeadline, RetryPeriod: opts.retryPeriod}, nil
}
