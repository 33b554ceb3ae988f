package main

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFormatVersion(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"devel", debug.BuildInfo{GoVersion: "go1.26.8"}, "cairn (devel)\ngo: go1.26.8\n"},
		{"release", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "c3d655f0aa"}, {Key: "vcs.time", Value: "2026-11-23T12:00:00Z"}, {Key: "vcs.modified", Value: "false"},
		}}, "cairn v1.2.0\ncommit: c3d655f0aa\ncommitted: 2026-11-23T12:00:00Z\ngo: go1.26.8\n"},
		{"modified", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.1-0.20261123120000-c3d655f0aa00+dirty"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "c3d655f0aa"}, {Key: "vcs.modified", Value: "true"},
		}}, "cairn v1.2.1-0.20261123120000-c3d655f0aa00+dirty\ncommit: c3d655f0aa (modified)\ngo: go1.26.8\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, formatVersion(&tc.bi))
		})
	}
}
