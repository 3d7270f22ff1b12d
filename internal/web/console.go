package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/store"
)

// PageSize is how many rows a console list shows at a time.
const PageSize = 50

// maxPageNumber bounds ?page=, so a made-up number cannot ask the database for an
// absurd offset.
const maxPageNumber = 1_000_000

// notices are the outcomes an action reports on the page it redirects to
// (?done=key).
var notices = map[string]string{
	"password":        "Password changed. Sign in with the new one.",
	"totp-enrolled":   "Two-factor authentication is on. You will be asked for a code when you sign in.",
	"totp-removed":    "Two-factor authentication is off.",
	"token-revoked":   "Token revoked. Anything using it has lost access.",
	"grant-revoked":   "Access revoked. The application's tokens no longer work.",
	"project-created": "Project created.",
	"project-updated": "Project saved.",
	"project-deleted": "Project deleted, with its connections.",
	"member-saved":    "Member saved.",
	"member-removed":  "Member removed.",
	"client-created":  "OAuth client created. Register its callback URL at the provider, then connect it.",
	"client-updated":  "OAuth client saved.",
	"client-deleted":  "OAuth client deleted, with every connection made through it.",
	"user-created":    "User created.",
	"org-created":     "Organization created.",
	"app-deleted":     "Application deleted, with its grants and tokens.",
	"linked":          "Account linked.",
	"unlinked":        "Account unlinked.",
	"unlinked-kept":   "Account unlinked here. The provider could not revoke the token; revoke it there too.",
	"checked":         "Connection checked with the provider.",
	"check-failed":    "The provider could not be asked just now; the connection's state is unchanged.",
	"connection-gone": "Connection deleted.",
}

// done redirects (303) to path with a notice from notices.
func done(w http.ResponseWriter, r *http.Request, path, notice string) {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	http.Redirect(w, r, path+sep+"done="+url.QueryEscape(notice), http.StatusSeeOther)
}

type orgKey struct{}

func withOrg(r *http.Request, o core.Organization, role core.Role) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), orgKey{}, orgAndRole{o, role}))
}

type orgAndRole struct {
	org  core.Organization
	role core.Role
}

// orgOf is the organization of an org admin route, checked by guard.
func orgOf(r *http.Request) core.Organization {
	v, _ := r.Context().Value(orgKey{}).(orgAndRole)
	return v.org
}

// roleOf is the signed-in person's role in orgOf (guard read it with the
// organization).
func roleOf(r *http.Request) core.Role {
	v, _ := r.Context().Value(orgKey{}).(orgAndRole)
	return v.role
}

// principal is the signed-in person of a console route (guard made sure).
func principal(r *http.Request) core.Principal {
	p, _ := Session(r)
	return p
}

// actorContext records where the action came from, for the audit trail.
func actorContext(r *http.Request) context.Context {
	return core.WithRemoteAddr(r.Context(), httpx.ClientIP(r))
}

func notFoundIfForbidden(err error) error {
	if errors.Is(err, core.ErrForbidden) {
		return core.ErrNotFound
	}
	return err
}

func (s *Site) notFound(w http.ResponseWriter, r *http.Request) {
	s.Error(w, r, http.StatusNotFound, "There is nothing here, or you may not see it.")
}

// fail answers an engine error that the page cannot show next to a form.
func (s *Site) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch v, ok := core.AsValidation(err); {
	case ok:
		s.Error(w, r, http.StatusBadRequest, v.Error())
	case errors.Is(err, core.ErrNotFound):
		s.notFound(w, r)
	case errors.Is(err, core.ErrForbidden):
		s.Error(w, r, http.StatusForbidden, "You may not do this.")
	case errors.Is(err, core.ErrConflict):
		s.Error(w, r, http.StatusConflict, "That name is taken.")
	default:
		s.log.ErrorContext(r.Context(), "console action failed", "path", r.URL.Path, "err", err)
		s.Error(w, r, http.StatusInternalServerError, "Something went wrong on our side. Try again in a moment.")
	}
}

// formError returns the sentence a form shows for err, and the status to answer
// with; ok is false for errors that are not about the input (fail those).
func formError(err error) (msg string, status int, ok bool) {
	if v, isV := core.AsValidation(err); isV {
		return sentence(v), http.StatusUnprocessableEntity, true
	}
	if errors.Is(err, core.ErrConflict) {
		return "That name is taken.", http.StatusConflict, true
	}
	if errors.Is(err, core.ErrForbidden) {
		return "You may not do this.", http.StatusForbidden, true
	}
	return "", 0, false
}

// sentence turns a validation error into words: "Name must be …".
func sentence(v *core.ValidationError) string {
	field := strings.ReplaceAll(v.Field, "_", " ")
	msg := v.Message
	if msg == "" {
		msg = strings.ReplaceAll(v.Code, "_", " ")
	}
	if field == "" {
		return upperFirst(msg) + "."
	}
	return upperFirst(field) + " " + strings.TrimSuffix(msg, ".") + "."
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Pager is the position of a page in a list, and the links to its neighbours.
type Pager struct {
	Number, Size, Total int
	// query is the page's own query without page, to build the links.
	path  string
	query url.Values
}

// pageOf reads ?page= (1 when missing or wrong).
func pageOf(r *http.Request) store.Page {
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || n < 1 {
		n = 1
	}
	return store.Page{Number: min(n, maxPageNumber), Size: PageSize}
}

func pageOfSize(n, size int) store.Page { return store.Page{Number: n, Size: size} }

func newPager(r *http.Request, pg store.Page, total int) Pager {
	q := url.Values{}
	for k, v := range r.URL.Query() {
		if k != "page" && k != "done" {
			q[k] = v
		}
	}
	return Pager{Number: pg.Number, Size: pg.Size, Total: total, path: r.URL.Path, query: q}
}

// First and Last are the 1-based positions of the page's rows.
func (p Pager) First() int {
	if p.Total == 0 {
		return 0
	}
	return (p.Number-1)*p.Size + 1
}

func (p Pager) Last() int { return min(p.Number*p.Size, p.Total) }

// Pages is the number of pages.
func (p Pager) Pages() int {
	if p.Size <= 0 || p.Total == 0 {
		return 1
	}
	return (p.Total + p.Size - 1) / p.Size
}

func (p Pager) HasPrev() bool { return p.Number > 1 }
func (p Pager) HasNext() bool { return p.Number < p.Pages() }
func (p Pager) Many() bool    { return p.Pages() > 1 }
func (p Pager) PrevURL() string {
	return p.url(min(p.Number-1, p.Pages()))
}
func (p Pager) NextURL() string  { return p.url(p.Number + 1) }
func (p Pager) FirstURL() string { return p.url(1) }
func (p Pager) LastURL() string  { return p.url(p.Pages()) }

func (p Pager) url(n int) string {
	q := url.Values{}
	for k, v := range p.query {
		q[k] = v
	}
	if n > 1 {
		q.Set("page", strconv.Itoa(n))
	}
	if len(q) == 0 {
		return p.path
	}
	return p.path + "?" + q.Encode()
}

// slicePage cuts one page out of a list the engine returns whole.
func slicePage[T any](all []T, pg store.Page) []T {
	from := (pg.Number - 1) * pg.Size
	if from >= len(all) {
		return nil
	}
	return all[from:min(from+pg.Size, len(all))]
}

// idParam parses an integer path value.
func idParam(r *http.Request, name string) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	return id, err == nil && id > 0
}
