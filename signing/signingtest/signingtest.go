// Package signingtest helps tests make Sigstore bundles that a real
// deployment would: keyless bundles from sigstore-go's VirtualSigstore.
package signingtest

import (
	"encoding/base64"
	"encoding/hex"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
)

// KeylessBundle signs artifact with a Fulcio-style certificate for subject/issuer from vs and
// returns a v0.3 bundle JSON with the certificate, an RFC 3161 timestamp and a Rekor entry
// carrying both an inclusion promise and an inclusion proof, as the public-good instance writes.
func KeylessBundle(t testing.TB, vs *ca.VirtualSigstore, subject, issuer string, artifact []byte) []byte {
	t.Helper()
	entity, err := vs.Sign(subject, issuer, artifact)
	require.NoError(t, err)

	vc, err := entity.VerificationContent()
	require.NoError(t, err)
	leaf := vc.Certificate()
	require.NotNil(t, leaf)
	sc, err := entity.SignatureContent()
	require.NoError(t, err)
	msg := sc.MessageSignatureContent()
	require.NotNil(t, msg)
	tsrs, err := entity.Timestamps()
	require.NoError(t, err)
	entries, err := entity.TlogEntries()
	require.NoError(t, err)
	require.Len(t, entries, 1)

	// Rebuild the log entry at index 0 with its promise (SET) and a proof, since the entity's
	// proto form carries neither.
	tle := entries[0].TransparencyLogEntry()
	body := tle.GetCanonicalizedBody()
	logID, err := vs.RekorLogID()
	require.NoError(t, err)
	set, err := vs.RekorSignPayload(tlog.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(body),
		IntegratedTime: tle.GetIntegratedTime(),
		LogIndex:       0,
		LogID:          logID,
	})
	require.NoError(t, err)
	proof, err := vs.GetInclusionProof(body)
	require.NoError(t, err)
	rootHash, err := hex.DecodeString(*proof.RootHash)
	require.NoError(t, err)
	hashes := make([][]byte, len(proof.Hashes))
	for i, h := range proof.Hashes {
		hashes[i], err = hex.DecodeString(h)
		require.NoError(t, err)
	}
	logIDRaw, err := hex.DecodeString(logID)
	require.NoError(t, err)

	var timestamps []*protocommon.RFC3161SignedTimestamp
	for _, ts := range tsrs {
		timestamps = append(timestamps, &protocommon.RFC3161SignedTimestamp{SignedTimestamp: ts})
	}
	pb := &protobundle.Bundle{
		MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_Certificate{
				Certificate: &protocommon.X509Certificate{RawBytes: leaf.Raw},
			},
			TlogEntries: []*protorekor.TransparencyLogEntry{{
				LogIndex:          0,
				LogId:             &protocommon.LogId{KeyId: logIDRaw},
				KindVersion:       &protorekor.KindVersion{Kind: "hashedrekord", Version: "0.0.1"},
				IntegratedTime:    tle.GetIntegratedTime(),
				InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: set},
				CanonicalizedBody: body,
				InclusionProof: &protorekor.InclusionProof{
					LogIndex:   *proof.LogIndex,
					RootHash:   rootHash,
					TreeSize:   *proof.TreeSize,
					Hashes:     hashes,
					Checkpoint: &protorekor.Checkpoint{Envelope: *proof.Checkpoint},
				},
			}},
			TimestampVerificationData: &protobundle.TimestampVerificationData{Rfc3161Timestamps: timestamps},
		},
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: msg.Digest()},
			Signature:     msg.Signature(),
		}},
	}
	out, err := protojson.Marshal(pb)
	require.NoError(t, err)
	return out
}
