package forge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
)

// redacted replaces secrets in masked text.
const redacted = "***"

// userinfo matches the credentials part of a URL ("scheme://user:pass@").
var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@`)

// MaskToken returns s with every occurrence of token and every URL's
// credentials (scheme://user:password@) replaced by "***". An empty token
// only masks URL credentials.
func MaskToken(s, token string) string {
	if token != "" {
		s = strings.ReplaceAll(s, token, redacted)
	}
	return userinfo.ReplaceAllString(s, "${1}"+redacted+"@")
}

// maskedError carries an error whose message had its secrets masked. It
// unwraps to the original so errors.Is and errors.As still work; only the
// message is rewritten.
type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }

// mask returns err with token and URL credentials masked from its message.
func mask(err error, token string) error {
	if err == nil {
		return nil
	}
	var m *maskedError
	if errors.As(err, &m) && m == err {
		return err
	}
	return &maskedError{msg: MaskToken(err.Error(), token), err: err}
}

// maskHandler is a slog.Handler that masks the token and URL credentials in
// the message and in every string, error and Stringer attribute.
type maskHandler struct {
	next  slog.Handler
	token string
}

func (h *maskHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *maskHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, MaskToken(r.Message, h.token), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *maskHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, MaskToken(v.String(), h.token))
	case slog.KindGroup:
		g := v.Group()
		as := make([]any, 0, len(g))
		for _, x := range g {
			as = append(as, h.attr(x))
		}
		return slog.Group(a.Key, as...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, MaskToken(x.Error(), h.token))
		case fmt.Stringer:
			return slog.String(a.Key, MaskToken(x.String(), h.token))
		case []byte:
			return slog.String(a.Key, MaskToken(string(x), h.token))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (h *maskHandler) WithAttrs(as []slog.Attr) slog.Handler {
	m := make([]slog.Attr, 0, len(as))
	for _, a := range as {
		m = append(m, h.attr(a))
	}
	return &maskHandler{next: h.next.WithAttrs(m), token: h.token}
}

func (h *maskHandler) WithGroup(name string) slog.Handler {
	return &maskHandler{next: h.next.WithGroup(name), token: h.token}
}
