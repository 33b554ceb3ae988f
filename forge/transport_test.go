package forge_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/forge"
	"github.com/cairnops/cairn/forge/githubtest"
)

// reply is one scripted answer of a scriptServer.
type reply struct {
	status int
	header map[string]string
	body   string
}

// scriptServer answers requests with the scripted replies in order (the
// last one repeats) and records each request's method and body.
type scriptServer struct {
	mu      sync.Mutex
	replies []reply
	got     []string // "METHOD body"
	onCall  func()
}

func (s *scriptServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.got = append(s.got, r.Method+" "+string(b))
	i := min(len(s.got)-1, len(s.replies)-1)
	rep := s.replies[i]
	on := s.onCall
	s.mu.Unlock()
	if on != nil {
		on()
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

func (s *scriptServer) calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

var secondary = reply{status: 403, header: map[string]string{"Retry-After": "1"},
	body: fmt.Sprintf(`{"message":%q,"documentation_url":%q}`, githubtest.SecondaryRateLimitMessage, githubtest.SecondaryRateLimitDocs)}

func TestRetryTransport(t *testing.T) {
	ok := reply{status: 200, body: `[]`}
	noContent := reply{status: 204}
	bad := reply{status: 502, body: `{"message":"Server Error"}`}
	reset := strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10)
	primary := reply{status: 403, header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset},
		body: `{"message":"API rate limit exceeded","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}`}
	exhaustedOK := reply{status: 200, body: `[]`, header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}}

	list := func(c *forge.Client) error { _, err := c.OpenPRs(context.Background(), ""); return err }
	dispatch := func(c *forge.Client) error {
		return c.Dispatch(context.Background(), "cairn", map[string]string{"k": "v"})
	}
	status := func(c *forge.Client) error {
		return c.SetStatus(context.Background(), "abc", "cairn/approvals", "success", "ok", "")
	}
	tests := []struct {
		name    string
		replies []reply
		call    func(*forge.Client) error
		wantErr bool
		calls   int
	}{
		{"GET retried on 5xx", []reply{bad, bad, ok}, list, false, 3},
		{"GET gives up after MaxAttempts", []reply{bad}, list, true, 4},
		{"GET not retried on 404", []reply{{status: 404, body: `{"message":"Not Found"}`}}, list, true, 1},
		{"POST not retried on 5xx", []reply{bad, noContent}, dispatch, true, 1},
		{"POST retried on secondary rate limit", []reply{secondary, secondary, noContent}, dispatch, false, 3},
		{"POST retried on 429", []reply{{status: 429, body: `{}`}, noContent}, dispatch, false, 2},
		{"POST retried on primary rate limit", []reply{primary, noContent}, dispatch, false, 2},
		{"retry-safe POST retried on 5xx", []reply{bad, {status: 201, body: `{}`}}, status, false, 2},
		{"exhausted limit does not block the next call", []reply{exhaustedOK, ok}, func(c *forge.Client) error {
			if err := list(c); err != nil {
				return err
			}
			return list(c)
		}, false, 2},
		{"plain 403 not retried", []reply{{status: 403, body: `{"message":"Resource not accessible by integration"}`}}, list, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scriptServer{replies: tt.replies}
			srv := httptest.NewServer(s)
			t.Cleanup(srv.Close)
			c, err := forge.New(context.Background(), forge.Options{
				APIURL: srv.URL, Token: token, Repository: "acme/models",
				MaxAttempts: 4, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, MaxWait: 2 * time.Millisecond,
			})
			require.NoError(t, err)
			err = tt.call(c)
			if tt.wantErr {
				require.Error(t, err)
				assert.NotContains(t, err.Error(), token)
			} else {
				require.NoError(t, err)
			}
			calls := s.calls()
			assert.Len(t, calls, tt.calls)
			for _, c := range calls[1:] {
				assert.Equal(t, calls[0], c, "body replayed on retry")
			}
		})
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &scriptServer{replies: []reply{secondary}, onCall: cancel}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := forge.New(ctx, forge.Options{APIURL: srv.URL, Token: token, Repository: "acme/models",
		MaxAttempts: 100, MaxWait: time.Hour})
	require.NoError(t, err)
	_, err = c.OpenPRs(ctx, "")
	require.ErrorIs(t, err, context.Canceled)
	assert.Len(t, s.calls(), 1)
}
