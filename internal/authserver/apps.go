package authserver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/store"
)

// CLIClientID is the client_id of the built-in application of vcsauth's own CLI
// (`vcsauth login`): a public client that uses the device flow.
const CLIClientID = "vcsauth-cli"

// CLIScopes are the scopes the built-in CLI application may ask for: "api", that is
// anything, because the CLI is the person's own tool acting for them (as `gh auth
// login` is). What a login actually asks for is the CLI's choice (credhelper asks for
// "credentials" by default), and the consent page shows it.
var CLIScopes = []string{core.ScopeAPI}

// cliApplication is the definition EnsureBuiltIn keeps in the store.
func cliApplication() core.Application {
	return core.Application{ClientID: CLIClientID, Name: "vcsauth CLI", RedirectURIs: []string{},
		Scopes: slices.Clone(CLIScopes), Confidential: false, BuiltIn: true}
}

// NewApplication is the input of CreateApplication.
type NewApplication struct {
	Name string
	// RedirectURIs: at least one (see ValidateRedirectURI).
	RedirectURIs []string
	// Scopes the application may ask for: at least one.
	Scopes []string
	// Confidential applications get a secret and must authenticate at the token
	// endpoint; public ones (native and browser apps) must use PKCE instead.
	Confidential bool
}

const maxAppName = 255

func validateAppName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", core.Missing("name")
	}
	if len(name) > maxAppName || !utf8.ValidString(name) {
		return "", core.Invalid("name", "must be valid text of at most %d bytes", maxAppName)
	}
	for _, r := range name {
		if r < ' ' || r == 0x7f {
			return "", core.Invalid("name", "must not contain control characters")
		}
	}
	return name, nil
}

// CreateApplication registers an application. Only site administrators may. For a
// confidential application it returns the client secret: the only time anyone sees
// it, since only its SHA-256 and last eight characters are kept.
func (e *Engine) CreateApplication(ctx context.Context, actor core.Principal, in NewApplication) (core.Application, string, error) {
	if !core.CanAdminSite(actor) {
		return core.Application{}, "", core.ErrForbidden
	}
	name, err := validateAppName(in.Name)
	if err != nil {
		return core.Application{}, "", err
	}
	uris, err := ValidateRedirectURIs(in.RedirectURIs)
	if err != nil {
		return core.Application{}, "", err
	}
	scopes, err := core.NormalizeScopes(in.Scopes)
	if err != nil {
		return core.Application{}, "", err
	}
	if len(scopes) == 0 {
		return core.Application{}, "", core.Missing("scopes")
	}
	clientID, err := secret.NewClientID(e.rand)
	if err != nil {
		return core.Application{}, "", internal("client id", err)
	}
	now := e.nowUTC()
	a := core.Application{ClientID: clientID, Name: name, RedirectURIs: uris, Scopes: scopes,
		Confidential: in.Confidential, OwnerID: actor.User.ID, CreatedAt: now, UpdatedAt: now}
	var text string
	if in.Confidential {
		if text, err = e.newSecret(&a); err != nil {
			return core.Application{}, "", err
		}
	}
	if err := e.st.CreateApplication(ctx, &a); err != nil {
		return core.Application{}, "", err
	}
	e.id.Audit(ctx, &actor, "application.create", "application", strconv.FormatInt(a.ID, 10), "",
		fmt.Sprintf("client_id=%s confidential=%t scopes=%s", a.ClientID, a.Confidential, strings.Join(a.Scopes, ",")))
	return a, text, nil
}

// newSecret mints a client secret and records its hash and last eight in a.
func (e *Engine) newSecret(a *core.Application) (string, error) {
	text, err := secret.Mint(secret.PrefixClientSecret, e.rand)
	if err != nil {
		return "", internal("client secret", err)
	}
	a.SecretHash = secret.HashToken(text)
	a.SecretLast = secret.LastEight(text)
	return text, nil
}

// ListApplications lists every application, the built-in one included. Site
// administrators only.
func (e *Engine) ListApplications(ctx context.Context, actor core.Principal, p store.Page) ([]core.Application, int, error) {
	if !core.CanAdminSite(actor) {
		return nil, 0, core.ErrForbidden
	}
	return e.st.ListApplications(ctx, p)
}

// Application returns one application. Site administrators only.
func (e *Engine) Application(ctx context.Context, actor core.Principal, id int64) (core.Application, error) {
	if !core.CanAdminSite(actor) {
		return core.Application{}, core.ErrForbidden
	}
	return e.st.Application(ctx, id)
}

// ApplicationByClientID finds an application by its public client_id, for flows that
// name one. It checks nothing: client ids are public.
func (e *Engine) ApplicationByClientID(ctx context.Context, clientID string) (core.Application, error) {
	return e.st.ApplicationByClientID(ctx, clientID)
}

// DeleteApplication deletes an application and, through the store's cascades, every
// grant, token, pending code and device authorization of it. Site administrators
// only; the built-in CLI application cannot be deleted (ErrForbidden).
func (e *Engine) DeleteApplication(ctx context.Context, actor core.Principal, id int64) error {
	if !core.CanAdminSite(actor) {
		return core.ErrForbidden
	}
	a, err := e.st.Application(ctx, id)
	if err != nil {
		return err
	}
	if a.BuiltIn {
		return fmt.Errorf("%w: the built-in application %s cannot be deleted", core.ErrForbidden, a.ClientID)
	}
	if err := e.st.DeleteApplication(ctx, id); err != nil {
		return err
	}
	e.id.Audit(ctx, &actor, "application.delete", "application", strconv.FormatInt(id, 10), "", "client_id="+a.ClientID)
	return nil
}

// RenewSecret gives a confidential application a new secret and returns it; the old
// one stops working at once (its hash is gone). Site administrators only.
func (e *Engine) RenewSecret(ctx context.Context, actor core.Principal, id int64) (core.Application, string, error) {
	if !core.CanAdminSite(actor) {
		return core.Application{}, "", core.ErrForbidden
	}
	var text string
	a, err := e.st.UpdateApplication(ctx, id, func(a core.Application) (core.Application, error) {
		if !a.Confidential {
			return a, &core.ValidationError{Field: "confidential", Code: "invalid", Message: "a public application has no secret to renew"}
		}
		var err error
		if text, err = e.newSecret(&a); err != nil {
			return a, err
		}
		a.UpdatedAt = e.nowUTC()
		return a, nil
	})
	if err != nil {
		return core.Application{}, "", err
	}
	e.id.Audit(ctx, &actor, "application.renew_secret", "application", strconv.FormatInt(id, 10), "", "client_id="+a.ClientID)
	return a, text, nil
}

// EnsureBuiltIn creates the built-in CLI application, or brings it back to its
// definition, and returns it. Call it at start; it is idempotent and safe when
// several replicas start at once.
func (e *Engine) EnsureBuiltIn(ctx context.Context) (core.Application, error) {
	want := cliApplication()
	for attempt := 0; attempt < 3; attempt++ {
		a, err := e.st.ApplicationByClientID(ctx, want.ClientID)
		if errors.Is(err, core.ErrNotFound) {
			now := e.nowUTC()
			a = want
			a.CreatedAt, a.UpdatedAt = now, now
			err = e.st.CreateApplication(ctx, &a)
			if errors.Is(err, core.ErrConflict) {
				continue // another replica created it; read it back
			}
			if err != nil {
				return core.Application{}, err
			}
			e.id.Audit(ctx, nil, "application.create", "application", strconv.FormatInt(a.ID, 10), "", "client_id="+a.ClientID+" built_in=true")
			return a, nil
		}
		if err != nil {
			return core.Application{}, err
		}
		if a.BuiltIn && a.Name == want.Name && !a.Confidential && len(a.RedirectURIs) == 0 && slices.Equal(a.Scopes, want.Scopes) {
			return a, nil
		}
		return e.st.UpdateApplication(ctx, a.ID, func(a core.Application) (core.Application, error) {
			a.Name, a.RedirectURIs, a.Scopes, a.BuiltIn = want.Name, want.RedirectURIs, want.Scopes, true
			a.Confidential, a.SecretHash, a.SecretLast = false, nil, ""
			a.UpdatedAt = e.nowUTC()
			return a, nil
		})
	}
	return core.Application{}, internal("built-in application", core.ErrConflict)
}

// ClientCredentials is how a client authenticated at an endpoint (RFC 6749 §2.3.1).
type ClientCredentials struct {
	ClientID string
	// Secret is empty when none was sent (a public client).
	Secret string
	// Basic is true when the credentials came in the Authorization header; a failure
	// is then answered 401 with WWW-Authenticate.
	Basic bool
}

// AuthenticateClient checks a client's credentials. A confidential application must
// present its secret (compared by SHA-256 in constant time); a public one is
// identified by its client_id alone. Every failure is the same invalid_client *Error,
// so a caller learns nothing about which part was wrong.
func (e *Engine) AuthenticateClient(ctx context.Context, c ClientCredentials) (core.Application, error) {
	fail := oauthErr(ErrInvalidClient, "client authentication failed")
	if c.ClientID == "" {
		return core.Application{}, fail
	}
	a, err := e.st.ApplicationByClientID(ctx, c.ClientID)
	if errors.Is(err, core.ErrNotFound) {
		return core.Application{}, fail
	}
	if err != nil {
		return core.Application{}, internal("client lookup", err)
	}
	if !a.Confidential {
		return a, nil
	}
	if c.Secret == "" || len(a.SecretHash) == 0 {
		return core.Application{}, fail
	}
	var h [32]byte
	secret.HashTokenInto(&h, c.Secret)
	if !secret.Equal(h[:], a.SecretHash) {
		return core.Application{}, fail
	}
	return a, nil
}
