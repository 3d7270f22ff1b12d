package core

import (
	"slices"
	"strings"
)

// The scope vocabulary: one set for every token we issue, in every dialect.
const (
	ScopeAPI         = "api"         // everything the user may do
	ScopeReadAPI     = "read_api"    // every read the user may do
	ScopeReadUser    = "read_user"   // the user's own profile
	ScopeCredentials = "credentials" // git credentials of connections the user may use
	ScopeConnections = "connections" // linking and unlinking the user's own connections
	ScopeAdmin       = "admin"       // administration, where the user is an admin
)

// Scopes lists the vocabulary in a stable order.
var Scopes = []string{ScopeAPI, ScopeReadAPI, ScopeReadUser, ScopeCredentials, ScopeConnections, ScopeAdmin}

// implied says which scopes a scope also grants.
var implied = map[string][]string{
	ScopeAPI:     {ScopeReadAPI, ScopeReadUser, ScopeCredentials, ScopeConnections, ScopeAdmin},
	ScopeReadAPI: {ScopeReadUser},
}

// ParseScopes splits a scope string on spaces, commas or newlines, and checks every
// name against the vocabulary. The result is sorted and without duplicates. An empty
// input gives an empty (non-nil) list; callers decide what that means.
func ParseScopes(s string) ([]string, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\n' || r == '\t' || r == '\r' || r == '+' })
	return NormalizeScopes(fields)
}

// NormalizeScopes validates a list of scope names, then sorts and de-duplicates it.
func NormalizeScopes(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(Scopes, s) {
			return nil, &ValidationError{Field: "scopes", Code: "invalid", Message: "unknown scope " + quote(s)}
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ScopesAllow reports whether a token holding have may do what need requires.
func ScopesAllow(have []string, need string) bool {
	for _, h := range have {
		if h == need || slices.Contains(implied[h], need) {
			return true
		}
	}
	return false
}

// ScopesSubset reports whether every scope of want is allowed by have, as when an
// application asks for scopes within those it registered.
func ScopesSubset(have, want []string) bool {
	for _, w := range want {
		if !ScopesAllow(have, w) {
			return false
		}
	}
	return true
}

// ScopesUnion merges scope lists, sorted and without duplicates.
func ScopesUnion(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return `"` + s + `"`
}
