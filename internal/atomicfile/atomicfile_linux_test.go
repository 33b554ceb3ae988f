package atomicfile_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/internal/atomicfile"
)

// TestWriteShortWrite makes the write itself fail: with the file size limit
// (RLIMIT_FSIZE, per process) below the data's size, write(2) returns EFBIG
// (Go ignores SIGXFSZ). The old file stays whole and the temporary file goes.
func TestWriteShortWrite(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "state.json")
	old := "old and complete\n"
	require.NoError(t, os.WriteFile(name, []byte(old), 0o644))

	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim))
	small := lim
	small.Cur = 1024
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &small))
	err := atomicfile.Write(name, []byte(strings.Repeat("x", 4096)), 0o644)
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim))

	require.Error(t, err)
	assert.ErrorIs(t, err, syscall.EFBIG)
	got, rerr := os.ReadFile(name)
	require.NoError(t, rerr)
	assert.Equal(t, old, string(got))
	assert.Equal(t, []string{"state.json"}, names(t, dir))
}
