package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cairnops/cairn/inventory"
)

// Evaluation budgets: the defaults of --eval-timeout and --eval-memory, and
// the environment variables that change them.
const (
	defaultEvalTimeout = 20 * time.Second
	defaultEvalMemory  = 1 << 30
	evalTimeoutEnv     = "CAIRN_EVAL_TIMEOUT"
	evalMemoryEnv      = "CAIRN_EVAL_MEMORY"
)

// evalOptions bound the evaluation of each model, inventory.cue and each
// policy file (inventory.Budget), and say where its results are cached.
type evalOptions struct {
	timeout  time.Duration
	memory   byteSize
	cacheDir string
	noCache  bool
}

// AddFlags adds --eval-timeout, --eval-memory, --cache-dir and --no-cache.
func (o *evalOptions) AddFlags(fs *pflag.FlagSet) {
	o.timeout, o.memory = defaultEvalTimeout, defaultEvalMemory
	fs.DurationVar(&o.timeout, "eval-timeout", o.timeout, "bound the evaluation of each model, inventory.cue and policy file to `DURATION` (env "+evalTimeoutEnv+")")
	fs.Var(&o.memory, "eval-memory", "bound the memory of each evaluation to `SIZE`, e.g. 512MiB, 2GiB (env "+evalMemoryEnv+")")
	fs.StringVar(&o.cacheDir, "cache-dir", "", "cache evaluation results in `DIR` (env "+inventory.CacheEnv+"; default cairn in the user cache folder)")
	fs.BoolVar(&o.noCache, "no-cache", false, "evaluate every model, neither reading nor writing the cache")
}

// evalCache returns the cache of evaluation results every command uses:
// --cache-dir, else inventory.DefaultCacheDir. It is nil with --no-cache,
// and when the user has no cache folder (no $HOME nor $XDG_CACHE_HOME):
// then every model is evaluated.
func evalCache(g *globalOptions) *inventory.Cache {
	if g.eval.noCache {
		return nil
	}
	dir := g.eval.cacheDir
	if dir == "" {
		var err error
		if dir, err = inventory.DefaultCacheDir(); err != nil {
			return nil
		}
	}
	return &inventory.Cache{Dir: dir}
}

// fromEnv sets the budgets that no flag set from the environment.
func (o *evalOptions) fromEnv(cmd *cobra.Command) error {
	if s := os.Getenv(evalTimeoutEnv); s != "" && !cmd.Flags().Changed("eval-timeout") {
		d, err := time.ParseDuration(s)
		if err != nil {
			return usageError(fmt.Errorf("%s=%q: want a duration such as 20s or 2m", evalTimeoutEnv, s))
		}
		o.timeout = d
	}
	if s := os.Getenv(evalMemoryEnv); s != "" && !cmd.Flags().Changed("eval-memory") {
		if err := o.memory.Set(s); err != nil {
			return usageError(fmt.Errorf("%s=%q: %w", evalMemoryEnv, s, err))
		}
	}
	if o.timeout <= 0 || o.memory <= 0 {
		return usageError(errors.New("--eval-timeout and --eval-memory must be positive"))
	}
	return nil
}

// evalIsolation returns the isolation every command evaluates the
// inventory under: this binary re-executed as a worker (see run), with the
// budgets of g. It is nil, in-process, only when the binary cannot be found.
func evalIsolation(g *globalOptions) *inventory.Isolation {
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	return &inventory.Isolation{
		Command:    []string{exe},
		Budget:     inventory.Budget{Time: g.eval.timeout, Memory: int64(g.eval.memory)},
		TimeHint:   "--eval-timeout / " + evalTimeoutEnv,
		MemoryHint: "--eval-memory / " + evalMemoryEnv,
		OnStart:    keepHeapLow,
	}
}

// keepHeapLow lowers the collector's target, once workers evaluate models
// or a base is loaded beside the head: the workers' results are garbage the
// parent should not let pile up next to the models it keeps, and two
// inventories are twice the live heap. A run served from the cache, with no
// base, allocates little but what it keeps and stays at gcPercent.
func keepHeapLow() {
	keepHeapLowOnce.Do(func() {
		if os.Getenv("GOGC") != "" {
			return // the user's setting stands
		}
		if prev := debug.SetGCPercent(evalGCPercent); prev < evalGCPercent {
			debug.SetGCPercent(prev) // already lower, as the daemon's
		}
	})
}

var keepHeapLowOnce sync.Once

// byteSize is a flag value in bytes, written as GOMEMLIMIT is: a number and
// an optional unit B, KiB, MiB, GiB or TiB. No module of the build parses
// it, and these lines do not warrant a new one.
type byteSize int64

var sizeUnits = []struct {
	suffix string
	size   int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

func (b *byteSize) Set(s string) error {
	num, mult := s, int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.size
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return fmt.Errorf("want a size such as 512MiB or 2GiB")
	}
	*b = byteSize(n * mult)
	return nil
}

func (b *byteSize) String() string { return inventory.FormatSize(int64(*b)) }

func (b *byteSize) Type() string { return "size" }
