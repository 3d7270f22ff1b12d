package web

import (
	"slices"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
)

// formatTime is how pages show a time: UTC, to the minute; "never" for zero.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// isoTime is a <time datetime> value.
func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

var healthTexts = map[core.Health]string{
	core.HealthHealthy:        "Healthy",
	core.HealthRefreshFailing: "Refresh failing",
	core.HealthNeedsReauth:    "Needs re-linking",
	core.HealthRevoked:        "Revoked",
}

func healthText(h core.Health) string {
	if t, ok := healthTexts[h]; ok {
		return t
	}
	if h == "" {
		return "Unknown"
	}
	return string(h)
}

// healthClass is the badge style of a health state.
func healthClass(h core.Health) string {
	switch h {
	case core.HealthHealthy:
		return "ok"
	case core.HealthRefreshFailing:
		return "warn"
	case core.HealthNeedsReauth, core.HealthRevoked:
		return "bad"
	}
	return "neutral"
}

func scopeText(s string) string {
	if d, ok := scopeDescriptions[s]; ok {
		return d
	}
	return "a permission this server does not describe"
}

func hasString(list []string, s string) bool { return slices.Contains(list, s) }

func ownerText(k core.OwnerKind) string {
	switch k {
	case core.OwnerUser:
		return "a person"
	case core.OwnerOrg:
		return "the organization"
	case core.OwnerProject:
		return "a project"
	}
	return string(k)
}

// providerOps is what the "provider-ops" template needs: the row, and the CSRF
// token and return path of its forms (a nested template sees only its argument).
type providerOps struct {
	Row    ProviderRow
	CSRF   string
	Return string
}

func opsOf(row ProviderRow, csrf, ret string) providerOps {
	return providerOps{Row: row, CSRF: csrf, Return: ret}
}
