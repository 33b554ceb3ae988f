package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/cairnops/cairn/signing"
)

// passwordEnv holds the password of encrypted private keys;
// cosignPasswordEnv, cosign's name for it, is read when passwordEnv is
// unset, so a key made with `cosign generate-key-pair` signs as it is.
const (
	passwordEnv       = "CAIRN_KEY_PASSWORD"
	cosignPasswordEnv = "COSIGN_PASSWORD"
)

// lookupPassword returns the key password from $CAIRN_KEY_PASSWORD, else
// from $COSIGN_PASSWORD, and whether either is set. An empty variable counts
// only when the other is not set to something longer.
func lookupPassword() ([]byte, bool) {
	set := false
	for _, name := range []string{passwordEnv, cosignPasswordEnv} {
		pw, ok := os.LookupEnv(name)
		if ok && pw != "" {
			return []byte(pw), true
		}
		set = set || ok
	}
	return nil, set
}

type keygenOptions struct {
	*globalOptions
	out string
}

func newKeygenCmd(g *globalOptions, runF func(context.Context, *keygenOptions) error) *cobra.Command {
	opts := &keygenOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Generate an ECDSA P-256 key pair for signing artifacts",
		Long: `Keygen writes PREFIX.key, the private key (mode 0600), and PREFIX.pub, the
public key to give verifiers with --trusted-key. When CAIRN_KEY_PASSWORD is
(or, when it is unset, COSIGN_PASSWORD) is set the private key is encrypted
with it in the sigstore/cosign format; otherwise it is a plain PKCS#8 PEM key. Existing files are never overwritten.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runKeygen(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.out, "out", "cairn", "write `PREFIX`.key and PREFIX.pub")
	return cmd
}

func runKeygen(ctx context.Context, opts *keygenOptions) error {
	if opts.out == "" {
		return usageError(errors.New("--out: empty prefix"))
	}
	keyPath, pubPath := opts.out+".key", opts.out+".pub"
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return usageError(fmt.Errorf("%s already exists; not overwriting it", p))
		} else if !errors.Is(err, fs.ErrNotExist) {
			return usageError(err)
		}
	}
	password, _ := lookupPassword()
	if err := ctx.Err(); err != nil {
		return err
	}
	priv, pub, err := signing.GenerateKey(password)
	if err != nil {
		return err
	}
	if err := writeNew(keyPath, priv, 0o600); err != nil {
		return usageError(err)
	}
	if err := writeNew(pubPath, pub, 0o644); err != nil {
		os.Remove(keyPath)
		return usageError(err)
	}
	if len(password) == 0 {
		fmt.Fprintf(opts.stderr, "cairn: warning: %s is not encrypted; set %s to encrypt it\n", keyPath, passwordEnv)
	}
	fmt.Fprintln(opts.stdout, keyPath)
	fmt.Fprintln(opts.stdout, pubPath)
	return nil
}

// writeNew creates path with data, failing if it exists.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
