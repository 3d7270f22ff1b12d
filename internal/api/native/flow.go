package native

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"

	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/web"
)

// start begins a browser flow. Parameters: organization_id (the client's
// organization: an org-owned connection, org admins only), or project_id and name
// (a project's connection); otherwise the person's own. return_to is a path here.
//
// A GET that arrives from another site (Sec-Fetch-Site) is not followed at once: a
// page asks the person to confirm with a form (CSRF-checked), because a provider that
// remembers an earlier consent answers without asking, and a page elsewhere could
// otherwise link an admin's account to the organization without them noticing.
func (h *handlers) start(w http.ResponseWriter, r *http.Request) {
	p, ok := h.site.RequireSession(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		q = r.PostForm
	}
	ref := r.PathValue("oc_id")
	req := connect.FlowRequest{Target: connect.Target{OAuthClient: ref}, Origin: connect.OriginWeb, ReturnTo: q.Get("return_to")}
	switch {
	case q.Get("organization_id") != "":
		req.OwnerKind, req.OrgID, req.Origin = core.OwnerOrg, q.Get("organization_id"), connect.OriginTFE
	case q.Get("project_id") != "":
		req.OwnerKind, req.ProjectID, req.Name = core.OwnerProject, q.Get("project_id"), q.Get("name")
	}
	if r.Method == http.MethodGet {
		if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
			h.confirm(w, r, q)
			return
		}
	}
	u, err := h.e.StartBrowser(r.Context(), p, req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// callback completes a browser flow (both paths).
func (h *handlers) callback(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("oc_id")
	alias := ref == ""
	if alias {
		ref = r.PathValue("id")
	}
	var pp *core.Principal
	if p, ok := web.Session(r); ok {
		pp = &p
	}
	q := r.URL.Query()
	res, err := h.e.Callback(r.Context(), pp, connect.CallbackInput{OAuthClient: ref, State: q.Get("state"),
		Code: q.Get("code"), Error: q.Get("error"), ErrorDescription: q.Get("error_description")})
	if errors.Is(err, core.ErrUnauthenticated) {
		// Sign in, then come back here; the flow is untouched until then.
		web.SignInRedirect(w, r, r.URL.RequestURI())
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if hb := res.HandBack; hb != nil {
		if hb.ReturnTo != "" {
			if u, err := url.Parse(hb.ReturnTo); err == nil {
				v := u.Query()
				v.Set("code", hb.Code)
				v.Set("state", hb.State)
				u.RawQuery = v.Encode()
				http.Redirect(w, r, u.String(), http.StatusSeeOther)
				return
			}
		}
		h.page(w, r, http.StatusOK, handBackTmpl, hb)
		return
	}
	if res.ReturnTo != "" {
		// Coder's clients expect 307 from the callback (api/coder.md).
		status := http.StatusSeeOther
		if alias || res.Flow.Origin == connect.OriginCoder {
			status = http.StatusTemporaryRedirect
		}
		http.Redirect(w, r, res.ReturnTo, status)
		return
	}
	data := struct {
		Login, Provider, Owner string
		Relinked               bool
	}{Login: res.Connection.UpstreamLogin, Owner: string(res.Connection.OwnerKind), Relinked: res.Relinked}
	if oc, err := h.e.Client(r.Context(), *pp, res.Flow.OAuthClientID); err == nil {
		if info, err := h.e.Describe(oc); err == nil {
			data.Provider = info.DisplayName
		}
	}
	h.page(w, r, http.StatusOK, doneTmpl, data)
}

// fail answers a flow error with the error page, in words for people.
func (h *handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		consent *connect.ConsentError
		prov    *connect.ProviderError
	)
	status, msg := http.StatusInternalServerError, "Something went wrong on our side. Try again in a moment."
	switch v, isValidation := core.AsValidation(err); {
	case errors.Is(err, connect.ErrFlowInvalid):
		status, msg = http.StatusBadRequest, "This sign-in link is invalid, was already used, or has expired. Start again from the page that sent you."
	case errors.Is(err, connect.ErrFlowNotYours):
		status, msg = http.StatusForbidden, "This sign-in was started by someone else. Sign in as that person to finish it, or start your own."
	case errors.As(err, &consent):
		status, msg = http.StatusBadRequest, "The provider did not grant access: "+consent.Code+"."
		if consent.Code == "access_denied" {
			status, msg = http.StatusForbidden, "Access was not granted at the provider. Nothing was connected."
		}
	case errors.As(err, &prov):
		status, msg = http.StatusBadGateway, "The provider could not complete the sign-in ("+prov.Op+"). Nothing was connected; try again."
	case isValidation:
		status, msg = http.StatusBadRequest, v.Error()
	case errors.Is(err, core.ErrNotFound):
		status, msg = http.StatusNotFound, "There is no such OAuth client, or you may not use it."
	case errors.Is(err, core.ErrForbidden):
		status, msg = http.StatusForbidden, "You may not connect this client here: only organization admins connect it for the organization."
	}
	if status >= 500 {
		h.log.ErrorContext(r.Context(), "upstream flow failed", "err", err)
	} else if status == http.StatusBadGateway {
		h.log.WarnContext(r.Context(), "upstream flow: provider failed", "err", err)
	}
	h.site.Error(w, r, status, msg)
}

// confirm shows the start-confirmation form.
func (h *handlers) confirm(w http.ResponseWriter, r *http.Request, q url.Values) {
	type field struct{ Name, Value string }
	data := struct {
		Action string
		Fields []field
		CSRF   string
	}{Action: r.URL.Path, CSRF: web.CSRFToken(r)}
	for _, k := range []string{"organization_id", "project_id", "name", "return_to"} {
		if v := q.Get(k); v != "" {
			data.Fields = append(data.Fields, field{k, v})
		}
	}
	h.page(w, r, http.StatusOK, confirmTmpl, data)
}

// page writes one of this package's pages, with the site's look (its stylesheet;
// the security headers were set by Site.Pages).
func (h *handlers) page(w http.ResponseWriter, r *http.Request, status int, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		h.log.ErrorContext(r.Context(), "rendering a flow page failed", "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(buf.Len()))
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

const pageHead = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer">
<title>{{block "title" .}}{{end}} · vcsauth</title><link rel="stylesheet" href="/static/vcsauth.css"></head>
<body><header class="top"><a class="brand" href="/">vcsauth</a></header><main><section class="card narrow">`

const pageFoot = `</section></main></body></html>`

var (
	doneTmpl = template.Must(template.New("done").Parse(pageHead + `{{define "title"}}Connected{{end}}
<h1>Connected</h1>
<p>{{if .Relinked}}Your connection was renewed{{else}}The account is connected{{end}}{{with .Provider}} at {{.}}{{end}}{{with .Login}} as <strong>{{.}}</strong>{{end}}.</p>
<p class="muted">You can close this page.</p>` + pageFoot))

	handBackTmpl = template.Must(template.New("handback").Parse(pageHead + `{{define "title"}}Authorization code{{end}}
<h1>Authorization code</h1>
<p>Give this code and state back to the platform that asked for the authorization. They work once, for ten minutes.</p>
<label>Code</label><p><code>{{.Code}}</code></p>
<label>State</label><p><code>{{.State}}</code></p>` + pageFoot))

	confirmTmpl = template.Must(template.New("confirm").Parse(pageHead + `{{define "title"}}Connect an account{{end}}
<h1>Connect an account</h1>
<p>Another site sent you here to connect a Git provider account. Continue only if you meant to.</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<div class="actions"><button type="submit">Continue to the provider</button></div>
</form>` + pageFoot))
)
