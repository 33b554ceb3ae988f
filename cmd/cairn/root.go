package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cairnops/cairn/inventory"
)

// globalOptions are the flags every command has.
type globalOptions struct {
	chdir string
	// quiet silences progress even on a terminal (--quiet).
	quiet bool
	eval  evalOptions
	// registry names the credentials for oci:// registries.
	registry registryOptions
	stdout   io.Writer
	stderr   io.Writer
}

// gcPercent is the collector's target cairn runs with unless GOGC sets one:
// Go's default, which a run served from the cache wants (it allocates
// little but what it keeps: 15 ms less collecting at 10k). A fixed soft
// limit, as cairn had (120 MiB), made the collector run without pause once
// a large inventory's live heap came near it.
const gcPercent = 100

// evalGCPercent is the target once workers evaluate models, or a base is
// loaded beside the head (keepHeapLow):
// their results are garbage beside the models kept, and 30k cold models
// peak at 166 MB at 50, 179 MB at 100 (199 MB under load).
const evalGCPercent = 50

// daemonGCPercent is the daemon's target: its heap is small, and it stays
// near what is live rather than near twice that.
const daemonGCPercent = 50

func run(args []string) int {
	// This binary is also the worker that evaluates the inventory under a
	// budget (evalIsolation).
	if inventory.IsWorker() {
		return inventory.ServeWorker()
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g := &globalOptions{stdout: os.Stdout, stderr: os.Stderr}
	root := newRootCmd(g)
	root.SetArgs(args)
	root.SetOut(os.Stdout)
	root.SetErr(os.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if !errors.As(err, &ee) || ee.err != nil {
		fmt.Fprintf(os.Stderr, "cairn: %v\n", err)
	}
	return exitCode(err)
}

func newRootCmd(g *globalOptions) *cobra.Command {
	root := &cobra.Command{
		Use:           "cairn",
		Short:         "Cairn keeps a git repository as the inventory of production ML models",
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if g.chdir != "" {
				if err := os.Chdir(g.chdir); err != nil {
					return usageError(fmt.Errorf("--chdir: %w", err))
				}
			}
			return g.eval.fromEnv(cmd)
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		// CommandPath is "cairn" for the root and "cairn plan" below it.
		return usageError(fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath()))
	})
	root.PersistentFlags().StringVarP(&g.chdir, "chdir", "C", "", "run as if started in `DIR`")
	root.PersistentFlags().BoolVarP(&g.quiet, "quiet", "q", false, "show no progress, even on a terminal")
	g.eval.AddFlags(root.PersistentFlags())
	g.registry.AddFlags(root.PersistentFlags())
	root.AddCommand(
		newValidateCmd(g, nil),
		newExportCmd(g, nil),
		newInitCmd(g, nil),
		newRulesCmd(g, nil),
		newPlanCmd(g, nil),
		newApplyCmd(g, nil),
		newDriftCmd(g, nil),
		newHistoryCmd(g, nil),
		newCICmd(g, nil),
		newKeygenCmd(g, nil),
		newSignCmd(g, nil),
		newVerifyCmd(g, nil),
		newReceiptsCmd(g, nil),
		newDaemonCmd(g, nil),
		newVersionCmd(g),
	)
	// --version prints what `cairn version` prints.
	// cobra prints the template as it is: the text has no actions.
	root.Version = "set"
	root.SetVersionTemplate(versionText())
	root.Flags().BoolP("version", "", false, "print cairn's version, commit and Go version")
	// Unknown commands and bad arguments are usage errors.
	for _, c := range root.Commands() {
		c.Args = wrapArgs(c.Args)
	}
	// cobra's default for the root reports unknown commands.
	return root
}

func wrapArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	if v == nil {
		return nil
	}
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return usageError(err)
		}
		return nil
	}
}
