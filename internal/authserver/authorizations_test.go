package authserver_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"sync"
	"testing"

	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/store"
)

// authzApps registers a confidential application (scopes read_api and credentials)
// and a public one, and returns them with the confidential one's secret.
func (f *fixture) authzApps(t *testing.T) (conf core.Application, sec string, pub core.Application) {
	t.Helper()
	ctx := context.Background()
	conf, sec, err := f.eng.CreateApplication(ctx, f.admin, authserver.NewApplication{Name: "CI", RedirectURIs: []string{"https://ci.example/cb"},
		Scopes: []string{"read_api", "credentials"}, Confidential: true})
	if err != nil {
		t.Fatal(err)
	}
	pub, _, err = f.eng.CreateApplication(ctx, f.admin, authserver.NewApplication{Name: "SPA", RedirectURIs: []string{"https://spa.example/"}, Scopes: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	return conf, sec, pub
}

// tokenPrincipal is p calling with a token of these scopes instead of a password.
func (f *fixture) tokenPrincipal(t *testing.T, p core.Principal, scopes ...string) core.Principal {
	t.Helper()
	text, _, err := f.id.CreatePersonalToken(context.Background(), p, p.User.ID, identity.NewToken{Note: "t", Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	tp, err := f.id.AuthenticateToken(context.Background(), text)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func (f *fixture) liveTokens(t *testing.T, userID string) int {
	t.Helper()
	_, n, err := f.st.ListTokens(context.Background(), store.TokenFilter{UserID: userID, Kinds: []core.TokenKind{core.TokenPersonal, core.TokenAccess}, LiveAt: epoch}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCreateAuthorization(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	conf, sec, pub := f.authzApps(t)
	token := f.tokenPrincipal(t, f.alice, "api")
	before := f.liveTokens(t, f.alice.User.ID)

	for _, tc := range []struct {
		name  string
		p     core.Principal
		in    authserver.NewAuthorization
		field string // of the *core.ValidationError, or "" for wantErr
		want  error
	}{
		{"personal without note", f.alice, authserver.NewAuthorization{Scopes: []string{"api"}}, "note", nil},
		{"unknown scope", f.alice, authserver.NewAuthorization{Note: "n", Scopes: []string{"repo"}}, "scopes", nil},
		{"client_id without secret", f.alice, authserver.NewAuthorization{ClientID: conf.ClientID, Scopes: []string{"read_api"}}, "client_secret", nil},
		{"secret without client_id", f.alice, authserver.NewAuthorization{ClientSecret: sec}, "client_id", nil},
		{"wrong secret", f.alice, authserver.NewAuthorization{ClientID: conf.ClientID, ClientSecret: sec + "x"}, "client_secret", nil},
		{"unknown client", f.alice, authserver.NewAuthorization{ClientID: "nope", ClientSecret: sec}, "client_secret", nil},
		{"public application", f.alice, authserver.NewAuthorization{ClientID: pub.ClientID, ClientSecret: "anything"}, "client_secret", nil},
		{"beyond the application's scopes", f.alice, authserver.NewAuthorization{ClientID: conf.ClientID, ClientSecret: sec, Scopes: []string{"api"}}, "scopes", nil},
		{"bad note_url", f.alice, authserver.NewAuthorization{Note: "n", NoteURL: "javascript:x"}, "note_url", nil},
		{"a token", token, authserver.NewAuthorization{Note: "n", Scopes: []string{"read_api"}}, "", authserver.ErrPasswordRequired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.eng.CreateAuthorization(ctx, tc.p, tc.in)
			if tc.field != "" {
				if v, ok := core.AsValidation(err); !ok || v.Field != tc.field {
					t.Fatalf("err = %v, want a validation error of %s", err, tc.field)
				}
			} else if !errors.Is(err, tc.want) || !errors.Is(err, core.ErrForbidden) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if n := f.liveTokens(t, f.alice.User.ID); n != before {
		t.Fatalf("failed creations left tokens: %d, want %d", n, before)
	}

	text, a, err := f.eng.CreateAuthorization(ctx, f.alice, authserver.NewAuthorization{Note: "laptop", Scopes: []string{"read_api", "read_api"}})
	if err != nil || text == "" || a.Kind != core.TokenPersonal || a.Application.ID != 0 || !slices.Equal(a.Scopes, []string{"read_api"}) {
		t.Fatalf("personal: %q %+v %v", text, a, err)
	}
	text, a, err = f.eng.CreateAuthorization(ctx, f.alice, authserver.NewAuthorization{ClientID: conf.ClientID, ClientSecret: sec, Scopes: []string{"credentials"}, Fingerprint: "fp"})
	if err != nil || text == "" || a.Kind != core.TokenAccess || a.Application.ID != conf.ID || a.Fingerprint != "fp" {
		t.Fatalf("app token: %q %+v %v", text, a, err)
	}
	if _, _, err := f.eng.CreateAuthorization(ctx, f.alice, authserver.NewAuthorization{ClientID: conf.ClientID, ClientSecret: sec, Fingerprint: "fp"}); err == nil {
		t.Fatal("a second token with one fingerprint")
	}
	if g, err := f.st.FindGrant(ctx, f.alice.User.ID, conf.ID, epoch); err != nil || !slices.Equal(g.Scopes, []string{"credentials"}) {
		t.Fatalf("grant: %+v %v", g, err)
	}
}

func TestGetOrCreateAuthorization(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	conf, sec, _ := f.authzApps(t)
	in := authserver.NewAuthorization{ClientSecret: sec, Scopes: []string{"read_api"}, Note: "ci"}

	for _, fp := range []string{"", "fp1"} {
		text, first, created, err := f.eng.GetOrCreateAuthorization(ctx, f.alice, conf.ClientID, fp, in)
		if err != nil || !created || text == "" || first.Fingerprint != fp {
			t.Fatalf("fingerprint %q, first: %q %+v %t %v", fp, text, first, created, err)
		}
		text, again, created, err := f.eng.GetOrCreateAuthorization(ctx, f.alice, conf.ClientID, fp, in)
		if err != nil || created || text != "" || again.ID != first.ID {
			t.Fatalf("fingerprint %q, again: %q %+v %t %v", fp, text, again, created, err)
		}
		// Someone else gets their own.
		_, other, created, err := f.eng.GetOrCreateAuthorization(ctx, f.bob, conf.ClientID, fp, in)
		if err != nil || !created || other.ID == first.ID {
			t.Fatalf("bob: %+v %t %v", other, created, err)
		}
	}
	// The body may repeat the path's fingerprint, not contradict it.
	withFP := in
	withFP.Fingerprint = "fp1"
	if _, _, created, err := f.eng.GetOrCreateAuthorization(ctx, f.alice, conf.ClientID, "fp1", withFP); err != nil || created {
		t.Fatalf("repeated fingerprint: %t %v", created, err)
	}
	before := f.liveTokens(t, f.alice.User.ID)
	for _, tc := range []struct {
		name, clientID, fp string
		in                 authserver.NewAuthorization
		field              string
	}{
		{"contradicting fingerprint", conf.ClientID, "fp2", withFP, "fingerprint"},
		{"no secret", conf.ClientID, "", authserver.NewAuthorization{Scopes: []string{"read_api"}}, "client_secret"},
		{"wrong secret", conf.ClientID, "fp9", authserver.NewAuthorization{ClientSecret: "x" + sec}, "client_secret"},
		{"unknown scope", conf.ClientID, "fp9", authserver.NewAuthorization{ClientSecret: sec, Scopes: []string{"repo"}}, "scopes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := f.eng.GetOrCreateAuthorization(ctx, f.alice, tc.clientID, tc.fp, tc.in)
			if v, ok := core.AsValidation(err); !ok || v.Field != tc.field {
				t.Fatalf("err = %v, want a validation error of %s", err, tc.field)
			}
		})
	}
	if _, _, _, err := f.eng.GetOrCreateAuthorization(ctx, f.tokenPrincipal(t, f.alice, "api"), conf.ClientID, "", in); !errors.Is(err, authserver.ErrPasswordRequired) {
		t.Fatalf("a token: %v", err)
	}
	if n := f.liveTokens(t, f.alice.User.ID); n != before+1 { // +1: tokenPrincipal's own
		t.Fatalf("failed calls left tokens: %d, want %d", n, before+1)
	}
}

func TestEditAuthorization(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	conf, sec, _ := f.authzApps(t)
	_, pat, err := f.eng.CreateAuthorization(ctx, f.alice, authserver.NewAuthorization{Note: "laptop", Scopes: []string{"read_user"}})
	if err != nil {
		t.Fatal(err)
	}
	_, app, err := f.eng.CreateAuthorization(ctx, f.alice, authserver.NewAuthorization{ClientID: conf.ClientID, ClientSecret: sec, Scopes: []string{"read_api"}, Fingerprint: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.eng.CreateAuthorization(ctx, f.alice, authserver.NewAuthorization{ClientID: conf.ClientID, ClientSecret: sec, Fingerprint: "b"}); err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }

	for _, tc := range []struct {
		name   string
		id     int64
		in     authserver.AuthorizationUpdate
		scopes []string // want, on success
		field  string   // of the validation error
	}{
		{"replace", pat.ID, authserver.AuthorizationUpdate{Scopes: []string{"api", "credentials"}}, []string{"api", "credentials"}, ""},
		{"add", pat.ID, authserver.AuthorizationUpdate{AddScopes: []string{"admin", "api"}}, []string{"admin", "api", "credentials"}, ""},
		{"remove", pat.ID, authserver.AuthorizationUpdate{RemoveScopes: []string{"api", "read_user"}}, []string{"admin", "credentials"}, ""},
		{"remove everything", pat.ID, authserver.AuthorizationUpdate{Scopes: []string{}}, []string{}, ""},
		{"note only", pat.ID, authserver.AuthorizationUpdate{Note: str("desk"), NoteURL: str("https://x.example/")}, []string{}, ""},
		{"two scope fields", pat.ID, authserver.AuthorizationUpdate{Scopes: []string{"api"}, AddScopes: []string{"admin"}}, nil, "scopes"},
		{"three scope fields", pat.ID, authserver.AuthorizationUpdate{Scopes: []string{}, AddScopes: []string{}, RemoveScopes: []string{}}, nil, "scopes"},
		{"unknown added scope", pat.ID, authserver.AuthorizationUpdate{AddScopes: []string{"repo"}}, nil, "add_scopes"},
		{"unknown removed scope", pat.ID, authserver.AuthorizationUpdate{RemoveScopes: []string{"gist"}}, nil, "remove_scopes"},
		{"personal token without note", pat.ID, authserver.AuthorizationUpdate{Note: str(" ")}, nil, "note"},
		{"beyond the application", app.ID, authserver.AuthorizationUpdate{AddScopes: []string{"api"}}, nil, "scopes"},
		{"within the application", app.ID, authserver.AuthorizationUpdate{AddScopes: []string{"credentials"}}, []string{"credentials", "read_api"}, ""},
		{"taken fingerprint", app.ID, authserver.AuthorizationUpdate{Fingerprint: str("b")}, nil, "fingerprint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.eng.EditAuthorization(ctx, f.alice, tc.id, tc.in)
			if tc.field != "" {
				if v, ok := core.AsValidation(err); !ok || v.Field != tc.field {
					t.Fatalf("err = %v, want a validation error of %s", err, tc.field)
				}
				return
			}
			if err != nil || !slices.Equal(got.Scopes, tc.scopes) {
				t.Fatalf("got %v %v, want scopes %v", got.Scopes, err, tc.scopes)
			}
			stored, _ := f.st.Token(ctx, tc.id)
			if !slices.Equal(stored.Scopes, tc.scopes) {
				t.Fatalf("stored scopes %v, want %v", stored.Scopes, tc.scopes)
			}
		})
	}
	if a, _ := f.eng.GetAuthorization(ctx, f.alice, pat.ID); a.Note != "desk" || a.NoteURL != "https://x.example/" {
		t.Fatalf("note not kept: %+v", a)
	}
	if _, err := f.eng.EditAuthorization(ctx, f.bob, pat.ID, authserver.AuthorizationUpdate{Scopes: []string{"api"}}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("someone else's: %v", err)
	}
	if _, err := f.eng.EditAuthorization(ctx, f.tokenPrincipal(t, f.alice, "api"), pat.ID, authserver.AuthorizationUpdate{Scopes: []string{"api"}}); !errors.Is(err, authserver.ErrPasswordRequired) {
		t.Fatalf("a token: %v", err)
	}
}

func TestListAndDeleteAuthorizations(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	conf, sec, _ := f.authzApps(t)
	_, pat, _ := f.eng.CreateAuthorization(ctx, f.alice, authserver.NewAuthorization{Note: "laptop", Scopes: []string{"api"}})
	_, _, _ = f.eng.CreateAuthorization(ctx, f.bob, authserver.NewAuthorization{Note: "bob's", Scopes: []string{"api"}})
	if _, _, err := f.id.SignIn(ctx, "alice", "correct horse alice", ""); err != nil { // a session: not an authorization
		t.Fatal(err)
	}
	// An authorization code flow: an access token and its refresh token, one family.
	app, err := f.eng.AuthenticateClient(ctx, authserver.ClientCredentials{ClientID: conf.ClientID, Secret: sec})
	if err != nil {
		t.Fatal(err)
	}
	az, err := f.eng.ValidateAuthorize(ctx, authserver.AuthorizeRequest{ResponseType: "code", ClientID: conf.ClientID, Scope: "read_api"})
	if err != nil {
		t.Fatal(err)
	}
	to, err := f.eng.IssueCode(ctx, f.alice, az)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(to)
	tr, err := f.eng.ExchangeCode(ctx, app, authserver.CodeExchange{Code: u.Query().Get("code")})
	if err != nil {
		t.Fatal(err)
	}

	list, total, err := f.eng.ListAuthorizations(ctx, f.alice, store.Page{})
	if err != nil || total != 2 || len(list) != 2 || list[0].ID != pat.ID || list[1].Kind != core.TokenAccess || list[1].Application.ID != conf.ID {
		t.Fatalf("list: %d %+v %v", total, list, err)
	}
	flow := list[1]
	if _, err := f.eng.GetAuthorization(ctx, f.bob, pat.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("bob reads alice's: %v", err)
	}
	if err := f.eng.DeleteAuthorization(ctx, f.bob, pat.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("bob deletes alice's: %v", err)
	}
	narrow := f.tokenPrincipal(t, f.alice, "read_user")
	if _, _, err := f.eng.ListAuthorizations(ctx, narrow, store.Page{}); err != nil {
		t.Fatalf("read_user lists: %v", err)
	}
	if err := f.eng.DeleteAuthorization(ctx, narrow, pat.ID); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("read_user deletes: %v", err)
	}
	if _, err := f.eng.GetAuthorization(ctx, f.tokenPrincipal(t, f.alice, "credentials"), pat.ID); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("credentials reads: %v", err)
	}

	if err := f.eng.DeleteAuthorization(ctx, f.alice, flow.ID); err != nil {
		t.Fatal(err)
	}
	// The refresh token of its family went with it.
	if _, err := f.eng.Refresh(ctx, app, tr.RefreshToken, ""); err == nil {
		t.Fatal("the flow's refresh token still works")
	}
	if err := f.eng.DeleteAuthorization(ctx, f.alice, pat.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.GetAuthorization(ctx, f.alice, pat.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("a deleted authorization: %v", err)
	}
	if err := f.eng.DeleteAuthorization(ctx, f.alice, pat.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("deleted twice: %v", err)
	}
}

// TestGetOrCreateAuthorizationRace: concurrent get-or-create calls with one
// fingerprint make one token, and every caller gets it.
func TestGetOrCreateAuthorizationRace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	conf, sec, _ := f.authzApps(t)
	const n = 6
	ids := make(chan int64, n)
	created := make(chan bool, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, a, c, err := f.eng.GetOrCreateAuthorization(context.Background(), f.alice, conf.ClientID, "laptop",
				authserver.NewAuthorization{ClientSecret: sec, Scopes: []string{"read_api"}})
			if err != nil {
				t.Error(err)
				return
			}
			ids <- a.ID
			created <- c
		}()
	}
	wg.Wait()
	close(ids)
	close(created)
	first, made := int64(0), 0
	for id := range ids {
		if first == 0 {
			first = id
		} else if id != first {
			t.Fatalf("two authorizations for one fingerprint: %d and %d", first, id)
		}
	}
	for c := range created {
		if c {
			made++
		}
	}
	if made != 1 || f.liveTokens(t, f.alice.User.ID) != 1 {
		t.Fatalf("%d created, %d live tokens", made, f.liveTokens(t, f.alice.User.ID))
	}
}

func TestUserInfo(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range []struct {
		scopes []string
		ok     bool
	}{{[]string{"api"}, true}, {[]string{"read_api"}, true}, {[]string{"read_user"}, true}, {[]string{"credentials", "connections"}, false}} {
		u, err := f.eng.UserInfo(f.tokenPrincipal(t, f.alice, tc.scopes...))
		if ok := err == nil && u.ID == f.alice.User.ID; ok != tc.ok || (!ok && !errors.Is(err, core.ErrForbidden)) {
			t.Errorf("scopes %v: %+v %v", tc.scopes, u, err)
		}
	}
}
