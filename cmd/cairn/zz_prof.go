package main

import (
	"os"
	"runtime/pprof"
)

func init() {
	if p := os.Getenv("CAIRN_CPUPROFILE"); p != "" && os.Getenv("CAIRN_EVAL_WORKER") == "" {
		f, _ := os.Create(p)
		pprof.StartCPUProfile(f)
		stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
	}
}

var stopProfile = func() {}
