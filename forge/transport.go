package forge

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// retrySafeKey marks a request context whose POST may be repeated after a
// 5xx or a network error, because repeating it has no extra effect (adding
// labels, setting a commit status).
type retrySafeKey struct{}

func retrySafe(ctx context.Context) context.Context {
	return context.WithValue(ctx, retrySafeKey{}, true)
}

// retryTransport is an http.RoundTripper that retries GitHub API requests:
// 5xx and network errors with bounded exponential backoff (idempotent
// methods and retry-safe POSTs only), and secondary (403/429) and primary
// (X-RateLimit-Remaining: 0) rate limits for every method, since GitHub did
// not process the request. Bodies are buffered so that retries replay them.
type retryTransport struct {
	next        http.RoundTripper
	attempts    int
	baseBackoff time.Duration
	maxBackoff  time.Duration
	maxWait     time.Duration // cap on Retry-After and rate-limit reset waits
	logger      *slog.Logger

	mu      sync.Mutex // guards resetAt
	resetAt time.Time  // primary rate limit exhausted until then
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodPatch:
		// PATCH here sets fields to given values (title, body, state), so
		// repeating it has no further effect.
		return true
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (t *retryTransport) backoff(attempt int) time.Duration {
	d := t.baseBackoff << (attempt - 1)
	if d > t.maxBackoff || d <= 0 {
		d = t.maxBackoff
	}
	// Half jitter: between d/2 and d.
	if half := int64(d / 2); half > 0 {
		d = time.Duration(half + rand.Int64N(half+1))
	}
	return d
}

func (t *retryTransport) capWait(d time.Duration) time.Duration {
	if d > t.maxWait {
		return t.maxWait
	}
	return d
}

// waitForReset sleeps until the primary rate limit resets (capped).
func (t *retryTransport) waitForReset(ctx context.Context) error {
	t.mu.Lock()
	until := t.resetAt
	t.resetAt = time.Time{}
	t.mu.Unlock()
	if until.IsZero() {
		return nil
	}
	d := t.capWait(time.Until(until))
	if d <= 0 {
		return nil
	}
	t.logger.Info("waiting for github rate limit reset", "wait", d)
	return sleep(ctx, d)
}

// noteRate records an exhausted primary rate limit from resp and reports
// whether resp says the limit is exhausted. It then removes the headers, so
// that go-github does not refuse the next calls itself: this transport waits
// for the reset before sending the next request.
func (t *retryTransport) noteRate(resp *http.Response) bool {
	if resp.Header.Get("X-RateLimit-Remaining") != "0" {
		return false
	}
	reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil {
		return false
	}
	t.mu.Lock()
	t.resetAt = time.Unix(reset, 0)
	t.mu.Unlock()
	resp.Header.Del("X-RateLimit-Remaining")
	resp.Header.Del("X-RateLimit-Reset")
	return true
}

// classify tells whether resp should be retried and after how long.
func (t *retryTransport) classify(resp *http.Response, attempt int, safe bool) (bool, time.Duration) {
	primary := t.noteRate(resp)
	switch {
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests:
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			if secs, err := strconv.Atoi(strings.TrimSpace(ra)); err == nil && secs >= 0 {
				return true, t.capWait(time.Duration(secs) * time.Second)
			}
			if at, err := http.ParseTime(ra); err == nil {
				return true, t.capWait(time.Until(at))
			}
		}
		if primary {
			return true, 0 // waitForReset does the waiting
		}
		if resp.StatusCode == http.StatusTooManyRequests || secondaryLimited(resp) {
			// GitHub: without Retry-After, wait at least a minute.
			return true, t.capWait(max(time.Minute, t.backoff(attempt)))
		}
		return false, 0
	case resp.StatusCode >= 500:
		return safe, t.backoff(attempt)
	}
	return false, 0
}

// secondaryLimited reports whether a 403 body is a secondary rate limit
// message; the body stays readable.
func secondaryLimited(resp *http.Response) bool {
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil {
		return false
	}
	s := strings.ToLower(string(b))
	return strings.Contains(s, "secondary rate limit") || strings.Contains(s, "abuse")
}

// RoundTrip sends req, retrying as described on retryTransport.
func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("buffering request body: %w", err)
		}
		body = b
	}
	safe := idempotent(req.Method) || ctx.Value(retrySafeKey{}) != nil
	for attempt := 1; ; attempt++ {
		if err := t.waitForReset(ctx); err != nil {
			return nil, err
		}
		r := req.Clone(ctx)
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
			r.ContentLength = int64(len(body))
		}
		resp, err := t.next.RoundTrip(r)
		var retry bool
		var wait time.Duration
		status := 0
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			retry, wait = safe, t.backoff(attempt)
		} else {
			status = resp.StatusCode
			retry, wait = t.classify(resp, attempt, safe)
		}
		if !retry || attempt >= t.attempts {
			return resp, err
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			_ = resp.Body.Close()
		}
		t.logger.Debug("retrying github request", "method", req.Method, "path", req.URL.Path,
			"status", status, "error", errString(err), "attempt", attempt, "wait", wait)
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

var _ http.RoundTripper = (*retryTransport)(nil)
