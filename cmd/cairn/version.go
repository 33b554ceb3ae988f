package main

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersionCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print cairn's module version, commit and Go version",
		Long: `Version prints the module version cairn was built at, the commit it was
built from (with "(modified)" when the work tree had changes) and the Go
version that built it, all read from the binary's build information.
cairn --version prints the same.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			writeVersion(g.stdout)
			return nil
		},
	}
}

// versionText returns the lines `cairn version` prints, read from
// debug.ReadBuildInfo: "cairn <module version>", "commit: <revision>" when
// the build recorded one, and "go: <go version>".
func versionText() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "cairn (unknown)\n"
	}
	return formatVersion(bi)
}

// formatVersion returns versionText's lines for bi.
func formatVersion(bi *debug.BuildInfo) string {
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	s := fmt.Sprintf("cairn %s\n", version)
	var rev, modified, at string
	for _, kv := range bi.Settings {
		switch kv.Key {
		case "vcs.revision":
			rev = kv.Value
		case "vcs.modified":
			if kv.Value == "true" {
				modified = " (modified)"
			}
		case "vcs.time":
			at = kv.Value
		}
	}
	if rev != "" {
		s += "commit: " + rev + modified + "\n"
		if at != "" {
			s += "committed: " + at + "\n"
		}
	}
	return s + "go: " + bi.GoVersion + "\n"
}

func writeVersion(w io.Writer) { fmt.Fprint(w, versionText()) }
