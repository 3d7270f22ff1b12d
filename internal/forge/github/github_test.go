package github_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/forge"
	"github.com/vcsauth/vcsauth/internal/forge/forgetest"
	"github.com/vcsauth/vcsauth/internal/forge/github"
)

var (
	_ forge.Forge       = (*github.Provider)(nil)
	_ forge.BrowserFlow = (*github.Provider)(nil)
	_ forge.DeviceFlow  = (*github.Provider)(nil)
	_ forge.Refresher   = (*github.Provider)(nil)
	_ forge.Revoker     = (*github.Provider)(nil)
	_ forge.UserLookup  = (*github.Provider)(nil)
	_ forge.Validator   = (*github.Provider)(nil)
)

// Without "Accept: application/json" GitHub answers form-encoded bodies, errors
// included (with status 200); both x/oauth2 and our own token calls read them.
func TestFormEncodedAnswers(t *testing.T) {
	t.Parallel()
	srv := forgetest.New(t, core.ProviderGitHub, forgetest.GitHubApp())
	p, err := github.New(srv.HTTPURL(), srv.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	p.TokenAcceptJSON = false
	ctx := context.Background()
	c := srv.OAuthClient()
	loc, err := srv.Authorize(c.ID, c.RedirectURL, "s", "")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(loc)
	tok, err := p.Exchange(ctx, nil, c, u.Query().Get("code"), "")
	if err != nil || tok.RefreshToken == "" || tok.Expiry.IsZero() {
		t.Fatalf("form-encoded exchange: %+v %v", tok, err)
	}
	if _, err := p.Refresh(ctx, nil, c, "ghr_dead"); !errors.Is(err, forge.ErrInvalidGrant) {
		t.Errorf("bad_refresh_token with status 200: %v", err)
	}
	da, err := p.StartDevice(ctx, nil, c)
	if err != nil || da.Interval != 5*time.Second || da.ExpiresIn != 900*time.Second {
		t.Fatalf("form-encoded device start: %+v %v", da, err)
	}
	_, err = p.PollDevice(ctx, nil, c, da.DeviceCode)
	var oe *forge.OAuthError
	if !errors.Is(err, forge.ErrSlowDown) || !errors.As(err, &oe) || oe.Interval != 10*time.Second {
		t.Errorf("form-encoded slow_down: %v", err)
	}
	if _, err := p.PollDevice(ctx, nil, c, "nope"); !errors.Is(err, forge.ErrExpiredToken) {
		t.Errorf("incorrect_device_code: %v, want ErrExpiredToken (start over)", err)
	}
}

func TestEnterprise(t *testing.T) {
	t.Parallel()
	p, err := github.Enterprise("https://ghe.example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	e := p.Endpoints()
	if e.APIURL != "https://ghe.example.com/api/v3" || e.TokenURL != "https://ghe.example.com/login/oauth/access_token" ||
		e.DeviceAuthURL != "https://ghe.example.com/login/device/code" || p.SupportsPKCE() || p.Kind() != core.ProviderGitHubEnterprise {
		t.Errorf("enterprise: %+v pkce %v", e, p.SupportsPKCE())
	}
	if _, err := github.Enterprise("", ""); err == nil {
		t.Errorf("enterprise without a URL")
	}
}
