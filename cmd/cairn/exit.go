package main

import (
	"errors"
	"fmt"
)

// Exit codes, as DESIGN.md §2 fixes them.
const (
	exitOK = 0
	// exitFindings: validation errors, refused or failed apply, invalid
	// signatures, drift findings.
	exitFindings = 1
	// exitUsage: usage errors and inputs that cannot be read.
	exitUsage = 2
)

// exitError carries an exit code with an error to print. A nil err exits
// with code and prints nothing more.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError marks err as exit code 2.
func usageError(err error) error { return &exitError{code: exitUsage, err: err} }

// findingsExit is returned by commands whose results already went out and
// that must exit 1.
var findingsExit = &exitError{code: exitFindings}

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitUsage
}
