package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
)

// TokensPage lists the person's personal access tokens and creates one.
type TokensPage struct {
	Tokens []core.Token
	Pager  Pager
	// The creation form: what was entered, and what was wrong with it.
	Note    string
	Scopes  []string
	Expiry  string
	Error   string
	Choices []ScopeText
	Expires []Choice
}

// Choice is an option of a select.
type Choice struct {
	Value, Label string
}

// tokenExpiries are the lifetimes a person picks from.
var tokenExpiries = []Choice{
	{"7", "7 days"}, {"30", "30 days"}, {"90", "90 days"}, {"365", "a year"}, {"never", "never (not recommended)"},
}

// SecretPage shows a secret right after its creation, once. Gone is set when it
// was shown already (the page was loaded again).
type SecretPage struct {
	Gone   bool
	Title  string
	Value  string
	Fields []Field
	Back   string
}

// Field is a labelled value on a page.
type Field struct {
	Label, Value string
}

func (s *Site) tokensPage(r *http.Request, page *TokensPage) error {
	pg := pageOf(r)
	list, total, err := s.acc.ListPersonalTokens(r.Context(), principal(r), pg)
	if err != nil {
		return err
	}
	page.Tokens, page.Pager = list, newPager(r, pg, total)
	page.Choices, page.Expires = DescribeScopes(core.Scopes), tokenExpiries
	if page.Expiry == "" {
		page.Expiry = "30"
	}
	return nil
}

func (s *Site) tokens(w http.ResponseWriter, r *http.Request) {
	var page TokensPage
	if err := s.tokensPage(r, &page); err != nil {
		s.fail(w, r, err)
		return
	}
	s.Render(w, r, http.StatusOK, "tokens", page)
}

func (s *Site) createToken(w http.ResponseWriter, r *http.Request) {
	p, f := principal(r), r.PostForm
	page := TokensPage{Note: strings.TrimSpace(f.Get("note")), Scopes: f["scopes"], Expiry: f.Get("expiry")}
	in := identity.NewToken{Note: page.Note, Scopes: page.Scopes}
	var err error
	switch {
	case page.Note == "":
		page.Error = "Give the token a note, so you can tell later what it is for."
	case len(page.Scopes) == 0:
		page.Error = "Choose at least one scope."
	case page.Expiry != "never":
		days, perr := strconv.Atoi(page.Expiry)
		if perr != nil || days < 1 || days > 366 {
			page.Error = "Choose when the token expires."
			break
		}
		in.ExpiresAt = s.now().Add(time.Duration(days) * 24 * time.Hour)
	}
	var text string
	var tok core.Token
	if page.Error == "" {
		text, tok, err = s.acc.CreatePersonalToken(actorContext(r), p, p.User.ID, in)
		if msg, _, ok := formError(err); ok {
			page.Error = msg
		} else if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if page.Error != "" {
		if err := s.tokensPage(r, &page); err != nil {
			s.fail(w, r, err)
			return
		}
		s.Render(w, r, http.StatusUnprocessableEntity, "tokens", page)
		return
	}
	s.showOnce(w, r, "/tokens/created", "token", map[string]string{
		"value": text, "note": tok.Note, "scopes": strings.Join(tok.Scopes, " "), "expires": formatTime(tok.ExpiresAt)})
}

func (s *Site) tokenCreated(w http.ResponseWriter, r *http.Request) {
	page := SecretPage{Title: "New personal access token", Back: "/tokens"}
	if f, ok := s.takeOnce(w, r, "token"); ok {
		page.Value = f["value"]
		page.Fields = []Field{{"Note", f["note"]}, {"Scopes", f["scopes"]}, {"Expires", f["expires"]}}
	} else {
		page.Gone = true
	}
	s.Render(w, r, http.StatusOK, "secret", page)
}

func (s *Site) revokeToken(w http.ResponseWriter, r *http.Request) {
	id, ok := idParam(r, "id")
	if !ok {
		s.notFound(w, r)
		return
	}
	if err := s.acc.RevokeToken(actorContext(r), principal(r), id); err != nil {
		s.fail(w, r, err)
		return
	}
	done(w, r, "/tokens", "token-revoked")
}

// GrantsPage lists the applications the person let act for them.
type GrantsPage struct {
	Grants []authserver.GrantInfo
	Pager  Pager
}

func (s *Site) grants(w http.ResponseWriter, r *http.Request) {
	pg := pageOf(r)
	list, total, err := s.apps.ListGrants(r.Context(), principal(r), pg)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.Render(w, r, http.StatusOK, "grants", GrantsPage{Grants: list, Pager: newPager(r, pg, total)})
}

func (s *Site) revokeGrant(w http.ResponseWriter, r *http.Request) {
	id, ok := idParam(r, "id")
	if !ok {
		s.notFound(w, r)
		return
	}
	if err := s.apps.DeleteGrant(actorContext(r), principal(r), id); err != nil {
		s.fail(w, r, err)
		return
	}
	done(w, r, "/grants", "grant-revoked")
}
