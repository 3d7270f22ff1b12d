package tfe

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRenderError: what Recover answers after a panic is a JSON:API error without
// the error's text.
func TestRenderError(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	renderError(w, httptest.NewRequest(http.MethodGet, "/", nil), http.StatusInternalServerError, errors.New("secret internals"))
	if w.Code != 500 || w.Header().Get("Content-Type") != MediaType ||
		strings.TrimSpace(w.Body.String()) != `{"errors":[{"status":"500","title":"internal server error"}]}` {
		t.Errorf("%d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
}

func TestValidationPointers(t *testing.T) {
	t.Parallel()
	for field, want := range map[string]string{
		"":                    "/data",
		"kind":                "/data/attributes/service-provider",
		"http_url":            "/data/attributes/http-url",
		"api_url":             "/data/attributes/api-url",
		"rsa_public_key":      "/data/attributes/rsa-public-key",
		"oauth_token_string":  "/data/attributes/oauth-token-string",
		"organization_scoped": "/data/attributes/organization-scoped",
		"projects":            "/data/relationships/projects",
		"agent_pool_id":       "/data/relationships/agent-pool",
		"ssh_key":             "/data/attributes/ssh-key",
	} {
		if got := attributePointer(field); got != want {
			t.Errorf("%q: %q, want %q", field, got, want)
		}
	}
}
