package sqlstore_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
)

// The qualified column lists of the joins are the bare lists with the alias: a
// column added to one and not the other would scan into the wrong fields.
func TestQualifiedColumnListsMatch(t *testing.T) {
	coalesce := regexp.MustCompile(`^COALESCE\((\w+), ''\)$`)
	word := regexp.MustCompile(`^\w+$`)
	for _, p := range sqlstore.ColumnListPairs {
		var want []string
		for _, col := range splitTopLevel(strings.Join(strings.Fields(p.Bare), " ")) {
			switch {
			case word.MatchString(col):
				want = append(want, p.Alias+"."+col)
			case coalesce.MatchString(col):
				want = append(want, coalesce.ReplaceAllString(col, "COALESCE("+p.Alias+".$1, '')"))
			default:
				t.Fatalf("column %q: neither a name nor COALESCE(name, '')", col)
			}
		}
		if got := strings.Join(strings.Fields(p.Qualified), " "); got != strings.Join(want, ", ") {
			t.Errorf("alias %s:\n got  %s\n want %s", p.Alias, got, strings.Join(want, ", "))
		}
	}
}

// splitTopLevel splits a column list at the commas outside parentheses.
func splitTopLevel(list string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range list {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(list[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(list[start:]))
}
