// Command bench runs whole-binary benchmarks of cairn against its peers on
// generated inventories, in one run, and prints wall time and peak RSS.
//
//	go run ./bench validate -cairn ./cairn -cue $(go env GOPATH)/bin/cue -n 1000,10000
//	go run ./bench verify -cairn ./cairn -size 1024
//	go run ./bench cache -cairn ./cairn -baseline ./cairn-main -n 10000
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cairnops/cairn/internal/invgen"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench validate|verify|cache [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "validate":
		err = benchValidate(os.Args[2:])
	case "gen":
		err = gen(os.Args[2:])
	case "verify":
		err = benchVerify(os.Args[2:])
	case "cache":
		err = benchCache(os.Args[2:])
	default:
		err = fmt.Errorf("unknown benchmark %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// measurement is one run of a command.
type measurement struct {
	wall   time.Duration
	maxRSS int64         // bytes
	cpu    time.Duration // user + system time of the median run
}

// measure runs name args in dir runs times and returns the median wall time
// and the largest peak RSS. A non-zero exit is an error.
func measure(dir string, runs int, name string, args ...string) (measurement, error) {
	return measureWith(dir, runs, func(int) error { return nil }, name, args...)
}

func benchValidate(args []string) error {
	fs := flag.NewFlagSet("validate", flag.ExitOnError)
	cairn := fs.String("cairn", "./cairn", "cairn binary")
	cue := fs.String("cue", "cue", "cue binary (cuelang.org/go/cmd/cue at go.mod's version)")
	sizes := fs.String("n", "1000,10000", "inventory sizes")
	runs := fs.Int("runs", 3, "runs per measurement (median wall time)")
	fs.Parse(args)
	cairnBin, err := filepath.Abs(*cairn)
	if err != nil {
		return err
	}
	fmt.Printf("%-8s %-22s %10s %10s %10s\n", "models", "command", "wall", "cpu", "peak RSS")
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(s)
		if err != nil {
			return err
		}
		dir, err := os.MkdirTemp("", "cairn-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if _, err := invgen.Write(dir, n); err != nil {
			return err
		}
		c, err := measure(dir, *runs, cairnBin, "validate")
		if err != nil {
			return err
		}
		v, err := measure(dir, *runs, *cue, "vet", "-c", "./...")
		if err != nil {
			return err
		}
		fmt.Printf("%-8d %-22s %10s %10s %8.1fMB\n", n, "cairn validate", c.wall.Round(time.Millisecond), c.cpu.Round(time.Millisecond), float64(c.maxRSS)/1e6)
		fmt.Printf("%-8d %-22s %10s %10s %8.1fMB\n", n, "cue vet -c ./...", v.wall.Round(time.Millisecond), v.cpu.Round(time.Millisecond), float64(v.maxRSS)/1e6)
		fmt.Printf("%-8d %-22s %9.2fx %9.2fx\n", n, "ratio cairn/cue", float64(c.wall)/float64(v.wall), float64(c.cpu)/float64(v.cpu))
	}
	return nil
}

// gen writes a generated inventory: bench gen DIR N.
func gen(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: bench gen DIR N")
	}
	n, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	if err := os.MkdirAll(args[0], 0o755); err != nil {
		return err
	}
	_, err = invgen.Write(args[0], n)
	return err
}
