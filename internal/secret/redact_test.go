package secret

import (
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for _, raw := range []string{
		"https://alice:hunter2@vcs.example.com/x",
		"postgres://u:hunter2@db:5432/app?sslmode=disable",
		"http://u:hunter2@[::1", // does not parse
	} {
		if got := RedactURL(raw); strings.Contains(got, "hunter2") {
			t.Errorf("RedactURL(%q) = %q", raw, got)
		}
	}
	if got := RedactURL("https://vcs.example.com/x"); got != "https://vcs.example.com/x" {
		t.Errorf("a URL without a password changed: %q", got)
	}
}
