package web

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

var formRE = regexp.MustCompile(`(?s)<form\b[^>]*>.*?</form>`)

// Every form that posts carries the CSRF token (Pages would refuse it otherwise:
// this catches the form that would always fail), and no form posts anywhere but
// here.
func TestTemplatesPostWithCSRF(t *testing.T) {
	t.Parallel()
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	var posts int
	for _, n := range names {
		raw, _ := fs.ReadFile(assets, n)
		for _, f := range formRE.FindAllString(string(raw), -1) {
			open := f[:strings.Index(f, ">")]
			if !strings.Contains(open, `method="post"`) {
				continue
			}
			posts++
			if !strings.Contains(f, `{{template "csrf"`) && !strings.Contains(f, `name="csrf_token" value="{{.CSRF}}"`) {
				t.Errorf("%s: a form without the CSRF token: %s", n, open)
			}
			if strings.Contains(open, `action="http`) || strings.Contains(open, `action="//`) {
				t.Errorf("%s: a form posting elsewhere: %s", n, open)
			}
		}
	}
	if posts < 25 {
		t.Fatalf("only %d posting forms found", posts)
	}
}

// Every route the table lists is served by Pages, and none overlaps another
// (ServeMux panics on that at registration).
func TestRoutesAreDistinct(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, rt := range routes {
		if seen[rt.pattern] {
			t.Errorf("route %s twice", rt.pattern)
		}
		seen[rt.pattern] = true
		if rt.admin != "" && rt.needs == "" {
			t.Errorf("%s: an admin route needs an engine", rt.pattern)
		}
	}
}

var inlineRE = regexp.MustCompile(`\sstyle=|\son[a-z]+=|<script>|<script\s+[^>]*>[^<]|href="javascript:`)

// The pages' CSP has no 'unsafe-inline': an inline style, script or event handler
// would be blocked in the browser, so none may be written.
func TestTemplatesHaveNothingInline(t *testing.T) {
	t.Parallel()
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		raw, _ := fs.ReadFile(assets, n)
		if m := inlineRE.FindString(string(raw)); m != "" {
			t.Errorf("%s: inline %q", n, m)
		}
	}
}
