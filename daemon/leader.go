package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaseName is the name of the coordination.k8s.io/v1 Lease that replicas
// of the daemon elect their leader with.
const LeaseName = "cairn"

// Defaults of LeaderElection, as client-go's own users (kube-controller-manager,
// controller-runtime) choose them.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// LeaderElection makes a daemon one of several replicas of which only the
// holder of a Lease fetches, applies, heals and opens pull requests; the
// others serve /healthz, /readyz, /metrics, the page and /api/v1/status
// read-only, naming the leader.
type LeaderElection struct {
	// Config reaches the cluster that holds the Lease.
	Config *rest.Config
	// Namespace is the Lease's namespace; Name its name (default LeaseName).
	Namespace, Name string
	// Identity names this replica in the Lease: the pod's name, or the
	// host name and process id.
	Identity string
	// LeaseDuration is how long followers wait after the last renewal
	// before they take the lease; RenewDeadline how long the leader tries
	// to renew before it stops leading; RetryPeriod how often every
	// replica tries. Defaults: DefaultLeaseDuration, DefaultRenewDeadline,
	// DefaultRetryPeriod.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// elector builds the leader elector of le with callbacks into d.
func (d *Daemon) elector(le *LeaderElection, lead func(context.Context)) (*leaderelection.LeaderElector, error) {
	cs, err := kubernetes.NewForConfig(le.Config)
	if err != nil {
		return nil, fmt.Errorf("leader election: %w", err)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: le.Namespace, Name: le.Name},
		Client:     cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: le.Identity},
	}
	return leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:          lock,
		LeaseDuration: le.LeaseDuration, RenewDeadline: le.RenewDeadline, RetryPeriod: le.RetryPeriod,
		// Released only once the work loop has stopped: see runElected.
		ReleaseOnCancel: true,
		Name:            le.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: lead,
			OnStoppedLeading: func() { d.setLeading(false) },
			OnNewLeader:      d.setLeader,
		},
	})
}

// checkLeaderElection fills in le's defaults and checks it, as
// NewLeaderElector would, so that New reports a bad setting.
func checkLeaderElection(le *LeaderElection) error {
	if le.Config == nil {
		return errors.New("leader election: no cluster configuration")
	}
	if le.Namespace == "" {
		return errors.New("leader election: no namespace for the lease")
	}
	if le.Identity == "" {
		return errors.New("leader election: no identity")
	}
	if le.Name == "" {
		le.Name = LeaseName
	}
	if le.LeaseDuration <= 0 {
		le.LeaseDuration = DefaultLeaseDuration
	}
	if le.RenewDeadline <= 0 {
		le.RenewDeadline = DefaultRenewDeadline
	}
	if le.RetryPeriod <= 0 {
		le.RetryPeriod = DefaultRetryPeriod
	}
	if le.LeaseDuration <= le.RenewDeadline {
		return fmt.Errorf("leader election: the lease duration %s must be longer than the renew deadline %s", le.LeaseDuration, le.RenewDeadline)
	}
	if float64(le.RenewDeadline) <= leaderelection.JitterFactor*float64(le.RetryPeriod) {
		return fmt.Errorf("leader election: the renew deadline %s must be longer than %.1f × the retry period %s", le.RenewDeadline, leaderelection.JitterFactor, le.RetryPeriod)
	}
	return nil
}

// runElected campaigns for the lease until ctx is done and runs the work
// loop while this replica leads. On ctx's end the work in hand finishes
// first, then the lease is released (ReleaseOnCancel), so that another
// replica takes over at once rather than after the lease duration. A
// replica that loses the lease stops starting work, lets the work in hand
// finish, and campaigns again.
func (d *Daemon) runElected(ctx context.Context) error {
	le := d.opts.LeaderElection
	// The elector's context ends only after the work loop stopped: the
	// release must not come before the apply in hand is done.
	electCtx, stopElect := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElect()
	idle := make(chan struct{}, 1) // a token held while the work loop runs
	idle <- struct{}{}
	go func() {
		<-ctx.Done()
		<-idle // the work loop has stopped, or never ran
		stopElect()
		idle <- struct{}{}
	}()
	d.log.Info("campaigning for leadership", "lease", le.Namespace+"/"+le.Name, "identity", le.Identity)
	var srcErr error
	for {
		e, err := d.elector(le, func(lctx context.Context) {
			<-idle
			defer func() { idle <- struct{}{} }()
			if ctx.Err() != nil || lctx.Err() != nil {
				return
			}
			// Work stops when this replica stops leading or ctx ends.
			wctx, cancel := context.WithCancel(lctx)
			defer cancel()
			defer context.AfterFunc(ctx, cancel)()
			d.setLeading(true)
			d.log.Info("leading", "identity", le.Identity)
			if err := d.work(wctx); err != nil {
				srcErr = err
				stopElect()
			}
		})
		if err != nil {
			return err
		}
		e.Run(electCtx)
		// Run returns when leadership was lost or the elector stopped; wait
		// for the work loop before campaigning again or returning.
		<-idle
		idle <- struct{}{}
		if electCtx.Err() != nil {
			d.log.Info("left the election", "identity", le.Identity)
			return srcErr
		}
		d.log.Warn("lost leadership", "identity", le.Identity)
	}
}

// setLeading records whether this replica leads.
func (d *Daemon) setLeading(on bool) {
	d.mu.Lock()
	d.leading = on
	if on && d.opts.LeaderElection != nil {
		d.leader = d.opts.LeaderElection.Identity
	}
	d.mu.Unlock()
	if on {
		d.metrics.leader.Set(1)
	} else {
		d.metrics.leader.Set(0)
	}
}

// setLeader records the identity the lease names as its holder.
func (d *Daemon) setLeader(identity string) {
	d.mu.Lock()
	d.leader = identity
	d.mu.Unlock()
	d.log.Info("leader", "identity", identity)
}

// isLeading reports whether this replica leads (always, without election).
func (d *Daemon) isLeading() bool {
	if d.opts.LeaderElection == nil {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.leading
}
