package inventory

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/errors"

	"github.com/cairnops/cairn/schema"
)

// patternWords says, in a user's words, what each pattern definition of the
// schema allows. The patterns themselves stay in the schema's CUE files.
var patternWords = map[string]string{
	"#SemVer":   `a semantic version like "1.0.0"`,
	"#Duration": `a duration like "15m" or "1h30m"`,
	"#Date":     `a date like "2026-01-31" or "2026-01-31T12:00:00Z"`,
	"#Digest":   `a digest like "sha256:" and 64 lower-case hex digits`,
}

// listWords says what a list with a minimum length asks for, by path.
var listWords = map[string]string{
	"card.owners": "name at least one owner",
}

// bounds maps the text of each pattern bound, as CUE prints it in an
// error, to its words.
var bounds = sync.OnceValue(func() map[string]string {
	out := map[string]string{}
	s, err := schema.Compile(cuecontext.New())
	if err != nil {
		return out
	}
	for def, words := range patternWords {
		if v := s.Definition(def); v.Exists() {
			out[fmt.Sprint(v)] = words
		}
	}
	return out
})

// maxInt is the schema's #MaxInt as CUE prints it.
var maxInt = strconv.FormatInt(1<<63-1, 10)

// humanMessage writes the errors at one path in a user's words when they
// are of a kind CUE words for its own authors: a pattern, a bound, a list
// length, a cycle, a key that is not allowed. ok is false for the rest.
func humanMessage(path string, errs []errors.Error, data cue.Value) (msg string, ok bool) {
	prefix := ""
	if path != "" {
		prefix = path + ": "
	}
	for _, e := range errs {
		format, args := e.Msg()
		switch {
		case strings.HasPrefix(format, "invalid value %v (out of bound %s)") && len(args) == 2:
			got, bound := fmt.Sprint(args[0]), fmt.Sprint(args[1])
			if v := data.LookupPath(cue.MakePath(selectors(e.Path())...)); v.Exists() && v.IsConcrete() {
				got = fmt.Sprint(v)
			}
			got = abbrev(got)
			if words, ok := bounds()[bound]; ok {
				return prefix + got + " is not " + words, true
			}
			if w, ok := boundWords(bound); ok {
				return prefix + got + " " + w, true
			}
		case format == "field not allowed":
			p := e.Path()
			if len(p) == 2 && p[0] == "versions" {
				return fmt.Sprintf("versions: %q is not %s", unquote(p[1:])[0], patternWords["#SemVer"]), true
			}
		case strings.HasPrefix(format, "incompatible list lengths (%d and %d)") && len(args) == 2:
			if words, ok := listWords[path]; ok {
				return prefix + words, true
			}
			have, want := fmt.Sprint(args[0]), fmt.Sprint(args[1])
			return fmt.Sprintf("%shas %s items, want %s", prefix, have, want), true
		case strings.HasPrefix(format, "cycle with field"):
			return prefix + "refers to itself: a value cannot be computed from its own value", true
		case format == "structural cycle" || strings.HasSuffix(format, "structural cycle"):
			return prefix + "contains itself (a structural cycle): a value cannot include itself", true
		case strings.HasPrefix(format, "unresolved disjunction") && len(args) >= 1:
			if ref := fmt.Sprint(args[0]); ref == lastLabel(path) || ref == path {
				return prefix + "refers to itself: write the value out instead of computing it from " + ref, true
			}
			return prefix + "has more than one possible value and no default: set it to one", true
		case strings.HasPrefix(format, "integer %d overflows %s"), strings.HasPrefix(format, "float %g overflows %s"):
			return prefix + "is too large: want at most " + maxInt, true
		}
	}
	return "", false
}

// boundWords words a numeric bound such as ">=0" or "<=9223372036854775807".
func boundWords(bound string) (string, bool) {
	for _, b := range []struct{ op, words string }{
		{">=", "is too small: want at least "},
		{"<=", "is too large: want at most "},
		{">", "is too small: want more than "},
		{"<", "is too large: want less than "},
	} {
		if n, ok := strings.CutPrefix(bound, b.op); ok {
			if _, err := strconv.ParseFloat(n, 64); err != nil {
				return "", false
			}
			return b.words + n, true
		}
	}
	if bound == `!=""` {
		return "is empty: want a value", true
	}
	return "", false
}

func lastLabel(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

// abbrev shortens a value too long to repeat in a message.
func abbrev(s string) string {
	if len(s) <= 100 {
		return s
	}
	return s[:20] + "…" + s[len(s)-8:] + fmt.Sprintf(" (%d characters)", len(s))
}
