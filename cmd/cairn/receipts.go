package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cairnops/cairn/forge"
	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/receipt"
	"github.com/cairnops/cairn/reconciler"
	"github.com/cairnops/cairn/signing"
)

// receiptKeyOptions is --receipt-key, the operator's key that signs
// approval receipts.
type receiptKeyOptions struct {
	receiptKey string
}

func (o *receiptKeyOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.receiptKey, "receipt-key", "", "sign an approval receipt of every model applied with the private key `FILE` (as cairn sign takes; outside the repository) or KMS URI")
}

// receiptIssuer returns the issuer of receipts signed with key, nil when
// key is empty (receiptSigner). conn reaches the pull requests; worktreeRef
// is the commit a work tree stands for.
func receiptIssuer(ctx context.Context, g *globalOptions, key string, src *inventory.Source, stateDir, worktreeRef string, conn githubConn) (*receipt.Issuer, error) {
	signer, err := receiptSigner(ctx, key, src)
	if err != nil || signer == nil {
		return nil, err
	}
	is, err := receipt.New(receipt.Options{Signer: signer, StateDir: stateDir, WorktreeRef: worktreeRef, GitHub: conn.client,
		Load: inventory.Options{Isolate: evalIsolation(g), Cache: evalCache(g)}})
	if err != nil {
		return nil, usageError(err)
	}
	return is, nil
}

// receiptSigner loads --receipt-key, nil when key is empty. It is loaded
// before anything is applied, so that a bad key or password stops the
// command (exit 2) before any target is touched; a key file inside the
// repository of src is refused.
func receiptSigner(ctx context.Context, key string, src *inventory.Source) (signature.SignerVerifier, error) {
	if key == "" {
		return nil, nil
	}
	if !strings.Contains(key, "://") {
		in, err := gate.Inside(src, key)
		if err != nil {
			return nil, usageError(fmt.Errorf("--receipt-key %s: %w", key, err))
		}
		if in {
			return nil, usageError(fmt.Errorf("--receipt-key %s: the key is inside the repository under review: keep it outside", key))
		}
	}
	signer, err := signing.LoadSigner(ctx, key, keyPassword)
	if err != nil {
		return nil, usageError(fmt.Errorf("--receipt-key: %w", err))
	}
	return signer, nil
}

// client connects to GitHub for receipts: conn, with the inventory's
// github.repository when conn names none.
func (c githubConn) client(ctx context.Context, inv *inventory.Inventory) (*forge.Client, error) {
	repo := c.repository
	if g := inv.Settings.GitHub; repo == "" && g != nil {
		repo = g.Repository
	}
	if repo == "" {
		repo = os.Getenv("GITHUB_REPOSITORY")
	}
	return forge.New(ctx, forge.Options{APIURL: c.apiURL, Token: c.token, Repository: repo})
}

// setReceipts sets ropts.Receipts to is, when there is one.
func setReceipts(ropts *reconciler.Options, is *receipt.Issuer) {
	if is != nil {
		ropts.Receipts = is
	}
}

// printReceiptErrors reports, one line per target, receipts that could not
// be issued.
func printReceiptErrors(stderr io.Writer, tps []reconciler.TargetPlan) {
	for _, tp := range tps {
		if tp.ReceiptError != "" {
			fmt.Fprintf(stderr, "cairn: target %s: receipt: %s\n", tp.Target, tp.ReceiptError)
		}
	}
}

// receiptTrust is --trusted-key for receipts and the state directory they
// are in.
type receiptTrust struct {
	trustedKeys []string
	stateDir    string
}

func (o *receiptTrust) AddFlags(fs *pflag.FlagSet, withState bool) {
	fs.StringArrayVar(&o.trustedKeys, "trusted-key", nil, "trust receipts signed by the PEM public key in `FILE`, outside the repository (repeatable)")
	if withState {
		fs.StringVar(&o.stateDir, "state-dir", "", "read audit.jsonl and receipts/ from `DIR` (default .cairn/state in the repository root)")
	}
}

// keys loads the trusted keys; one inside the repository of src (when
// there is one) is refused.
func (o *receiptTrust) keys(src *inventory.Source) ([]crypto.PublicKey, error) {
	var out []crypto.PublicKey
	for _, k := range o.trustedKeys {
		if src != nil {
			in, err := gate.Inside(src, k)
			if err != nil {
				return nil, usageError(fmt.Errorf("--trusted-key %s: %w", k, err))
			}
			if in {
				return nil, usageError(fmt.Errorf("--trusted-key %s: %w: keep the file outside it", k, gate.ErrTrustInRepository))
			}
		}
		pub, err := signing.LoadPublicKey(k)
		if err != nil {
			return nil, usageError(fmt.Errorf("--trusted-key: %w", err))
		}
		out = append(out, pub)
	}
	return out, nil
}

// dir returns --state-dir, else .cairn/state in the root of src.
func (o *receiptTrust) dir(src *inventory.Source) (string, error) {
	if o.stateDir != "" {
		p, err := filepath.Abs(o.stateDir)
		if err != nil {
			return "", usageError(err)
		}
		return p, nil
	}
	root, err := filepath.Abs(src.Dir)
	if err != nil {
		return "", usageError(err)
	}
	return filepath.Join(root, ".cairn", "state"), nil
}

type receiptsVerifyOptions struct {
	*globalOptions
	inventoryOptions
	receiptTrust
}

func newReceiptsCmd(g *globalOptions, runF func(context.Context, *receiptsVerifyOptions, []string) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "receipts",
		Short: "Check the signed approval receipts of applies",
		Args:  cobra.NoArgs,
	}
	opts := &receiptsVerifyOptions{globalOptions: g}
	verify := &cobra.Command{
		Use:   "verify [MODEL[@VERSION]] --trusted-key FILE",
		Short: "Verify approval receipts offline",
		Long: `Verify checks, offline, every receipt that the audit log of the state
directory names (of MODEL, and VERSION, when given): a Sigstore bundle over
DSSE signed by a --trusted-key, of an in-toto statement of predicate type
` + receipt.PredicateType + ` about the audit line's model, version and
digest, saying what the audit line says. It prints one line per receipt
with who approved, and exits 1 when any does not verify or there is none,
2 without --trusted-key.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.checkFormat("text"); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts, args)
			}
			return runReceiptsVerify(cmd.Context(), opts, args)
		},
	}
	opts.inventoryOptions.AddFlags(verify.Flags(), "text")
	opts.receiptTrust.AddFlags(verify.Flags(), true)
	verify.Args = wrapArgs(verify.Args)
	cmd.AddCommand(verify)
	return cmd
}

func runReceiptsVerify(ctx context.Context, opts *receiptsVerifyOptions, args []string) error {
	var model, version string
	if len(args) == 1 {
		var err error
		if model, version, err = parseRef(args[0], false); err != nil {
			return err
		}
	}
	if len(opts.trustedKeys) == 0 {
		return usageError(errors.New("receipts verify needs --trusted-key FILE: the public key of the operator's --receipt-key"))
	}
	var src *inventory.Source
	if s, err := opts.open(ctx); err == nil {
		src = s
	} else if opts.stateDir == "" {
		return err
	}
	keys, err := opts.keys(src)
	if err != nil {
		return err
	}
	dir, err := opts.dir(src)
	if err != nil {
		return err
	}
	entries, err := reconciler.Audit(dir)
	if err != nil {
		return usageError(err)
	}
	ok, bad := 0, 0
	for _, e := range entries {
		if e.Receipt == "" || (model != "" && e.Model != model) || (version != "" && e.To != version) {
			continue
		}
		vr, err := receipt.Verify(ctx, dir, e, keys)
		if err != nil {
			bad++
			fmt.Fprintf(opts.stderr, "cairn: %s\n", err)
			continue
		}
		ok++
		p := vr.Predicate
		fmt.Fprintf(opts.stdout, "ok %s@%s %s %s %s: %s\n", p.Model, p.Version, p.Target, inventory.ShortHash(p.Revision), vr.Signer, p.Summary())
	}
	what := "receipts"
	if model != "" {
		what = "receipts of " + args[0]
	}
	switch {
	case ok+bad == 0:
		fmt.Fprintf(opts.stderr, "cairn: no %s in %s\n", what, filepath.Join(dir, reconciler.AuditFile))
		return findingsExit
	case bad > 0:
		fmt.Fprintf(opts.stdout, "%d of %d %s do not verify\n", bad, ok+bad, what)
		return findingsExit
	}
	fmt.Fprintf(opts.stdout, "verified %s\n", plural(ok, "receipt"))
	return nil
}
