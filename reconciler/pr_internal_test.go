package reconciler

import "testing"

func TestPullRequest(t *testing.T) {
	for msg, want := range map[string]int{
		"Merge pull request #42 from acme/promote-fraud\n\nPromote fraud-detector": 42,
		"Promote fraud-detector 2.3.0 to production (#7)":                          7,
		"Promote fraud-detector (#7)\n\n* fix (#3)":                                7,
		"Refer to #7 in the text":                                                  0,
		"Merge branch 'main' into feature":                                         0,
		"":                                                                         0,
	} {
		if got := pullRequest(msg); got != want {
			t.Errorf("pullRequest(%q) = %d, want %d", msg, got, want)
		}
	}
}
