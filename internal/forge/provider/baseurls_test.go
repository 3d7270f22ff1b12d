package provider_test

import (
	"testing"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge/provider"
)

func TestBaseURLs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name                       string
		web, api, defWeb           string
		defAPI                     func(string) string
		wantWeb, wantAPI, errField string
	}{
		{name: "hosted defaults", defWeb: "https://github.com", defAPI: provider.Fixed("https://api.github.com"),
			wantWeb: "https://github.com", wantAPI: "https://api.github.com"},
		{name: "self-hosted API under the web address", web: "https://Git.Example.com/", defAPI: provider.Under("/api/v4"),
			wantWeb: "https://git.example.com", wantAPI: "https://git.example.com/api/v4"},
		{name: "explicit API wins", web: "https://git.example.com", api: "https://api.example.com/v1/", defAPI: provider.Under("/api/v4"),
			wantWeb: "https://git.example.com", wantAPI: "https://api.example.com/v1"},
		{name: "self-hosted needs its address", defAPI: provider.Under(""), errField: "http_url"},
		{name: "bad web address", web: "ftp://x", defAPI: provider.Under(""), errField: "http_url"},
		{name: "bad API address", web: "https://x.example", api: "https://u:p@x.example", defAPI: provider.Under(""), errField: "api_url"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, a, err := provider.BaseURLs(tt.web, tt.api, tt.defWeb, tt.defAPI)
			if tt.errField != "" {
				if v, ok := core.AsValidation(err); !ok || v.Field != tt.errField {
					t.Fatalf("err = %v, want a validation error on %s", err, tt.errField)
				}
				return
			}
			if err != nil || w != tt.wantWeb || a != tt.wantAPI {
				t.Fatalf("got %q %q %v, want %q %q", w, a, err, tt.wantWeb, tt.wantAPI)
			}
		})
	}
}
