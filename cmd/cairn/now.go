package main

import (
	"os"
	"time"
)

// nowFunc is the clock; CAIRN_NOW (RFC 3339) fixes it for reproducible runs.
func nowFunc() time.Time {
	if s := os.Getenv("CAIRN_NOW"); s != "" {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t
		}
	}
	return time.Now()
}
