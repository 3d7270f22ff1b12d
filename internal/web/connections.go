package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
)

// ProviderRow is one OAuth client a person may link through, and their link.
type ProviderRow struct {
	Client core.OAuthClient
	// Provider is the provider's name ("GitHub"); Available is false for a link
	// whose client the person may no longer use (they left its organization).
	Provider  string
	Available bool
	Device    bool // the device flow can be offered
	Browser   bool // the browser flow can be offered
	// LinkURL starts the browser flow (native's /auth/{oc}), coming back here.
	LinkURL string
	Conn    *core.Connection
}

// ConnectionsPage lists every provider the person may use, linked or not.
type ConnectionsPage struct {
	Rows  []ProviderRow
	Pager Pager
	Error string
}

// ExternalAuthPage is one provider's link page: where a Git credential request or
// the Coder dialect sends a person who has no usable link (/external-auth/{id}).
type ExternalAuthPage struct {
	Row        ProviderRow
	Redirected bool   // back from a flow the page started
	Return     string // the page itself, where its forms come back to
}

// DeviceLinkPage is an upstream device flow in progress: the code to enter at the
// provider, and a form to finish once it is entered.
type DeviceLinkPage struct {
	Provider        string
	ClientRef       string
	UserCode        string
	VerificationURI string
	DeviceCode      string
	Expires         string
	Return          string
	Error           string
}

// connectionsReturn is where link flows started here come back to.
func linkURL(oc core.OAuthClient, returnTo string) string {
	return "/auth/" + url.PathEscape(oc.ID) + "?" + url.Values{"return_to": {returnTo}}.Encode()
}

func (s *Site) providerRow(oc core.OAuthClient, conn *core.Connection, returnTo string) ProviderRow {
	row := ProviderRow{Client: oc, Provider: kindLabel(oc.Kind), Available: true, Conn: conn, LinkURL: linkURL(oc, returnTo)}
	if info, err := s.up.Describe(oc); err == nil {
		row.Provider, row.Device, row.Browser = info.DisplayName, info.Device, info.BrowserFlow
	}
	return row
}

func (s *Site) connections(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	clients, err := s.up.UsableClients(r.Context(), p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	conns, err := s.up.UserConnections(r.Context(), p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	byClient := make(map[string]*core.Connection, len(conns))
	for i := range conns {
		byClient[conns[i].OAuthClientID] = &conns[i]
	}
	// Every usable client, linked or not, then links through clients the person may
	// no longer use (still theirs to unlink).
	type item struct {
		oc   *core.OAuthClient
		conn *core.Connection
	}
	items := make([]item, 0, len(clients))
	seen := make(map[string]bool, len(clients))
	for i := range clients {
		items = append(items, item{oc: &clients[i], conn: byClient[clients[i].ID]})
		seen[clients[i].ID] = true
	}
	for i := range conns {
		if !seen[conns[i].OAuthClientID] {
			items = append(items, item{conn: &conns[i]})
		}
	}
	pg := pageOf(r)
	page := ConnectionsPage{Pager: newPager(r, pg, len(items))}
	back := "/connections?done=linked"
	for _, it := range slicePage(items, pg) {
		if it.oc == nil {
			page.Rows = append(page.Rows, ProviderRow{Client: core.OAuthClient{ID: it.conn.OAuthClientID}, Provider: "No longer available to you", Conn: it.conn})
			continue
		}
		page.Rows = append(page.Rows, s.providerRow(*it.oc, it.conn, back))
	}
	s.Render(w, r, http.StatusOK, "connections", page)
}

// externalAuth is the link page of one provider (by slug or oc- id).
func (s *Site) externalAuth(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	ref := r.PathValue("id")
	oc, err := s.up.UsableClient(r.Context(), p, ref)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var conn *core.Connection
	if c, err := s.up.UserLink(r.Context(), p, oc.ID); err == nil {
		conn = &c
	} else if !errors.Is(err, core.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	back := "/external-auth/" + url.PathEscape(ref) + "?redirected=true"
	page := ExternalAuthPage{Row: s.providerRow(oc, conn, back), Redirected: r.URL.Query().Get("redirected") == "true" && conn != nil,
		Return: "/external-auth/" + url.PathEscape(ref)}
	s.Render(w, r, http.StatusOK, "external_auth", page)
}

// returnPath is the form's "return" field when it is a path here, else def.
func returnPath(r *http.Request, def string) string {
	if v := r.PostForm.Get("return"); v != "" {
		if n, ok := SafeNext(v); ok {
			return n
		}
	}
	return def
}

func (s *Site) startDevice(w http.ResponseWriter, r *http.Request) {
	p, ref := principal(r), r.PathValue("oc")
	oc, err := s.up.UsableClient(r.Context(), p, ref)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ds, err := s.up.StartDevice(actorContext(r), p, connect.FlowRequest{Target: connect.Target{OAuthClient: oc.ID}, Origin: connect.OriginWeb})
	if err != nil {
		s.flowFail(w, r, err)
		return
	}
	page := DeviceLinkPage{Provider: s.providerRow(oc, nil, "").Provider, ClientRef: oc.ID, UserCode: ds.UserCode,
		VerificationURI: httpURL(ds.VerificationURI), DeviceCode: ds.DeviceCode, Expires: formatTime(ds.ExpiresAt),
		Return: returnPath(r, "/connections")}
	s.Render(w, r, http.StatusOK, "device_link", page)
}

// httpURL keeps an http(s) address and drops anything else: the page links to it.
func httpURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return raw
}

// pollDevice asks the provider once whether the person entered the code.
func (s *Site) pollDevice(w http.ResponseWriter, r *http.Request) {
	p, f, ref := principal(r), r.PostForm, r.PathValue("oc")
	page := DeviceLinkPage{Provider: f.Get("provider"), ClientRef: ref, UserCode: f.Get("user_code"),
		VerificationURI: httpURL(f.Get("verification_uri")), DeviceCode: f.Get("device_code"), Expires: f.Get("expires"),
		Return: returnPath(r, "/connections")}
	_, err := s.up.PollDevice(actorContext(r), p, ref, page.DeviceCode)
	switch {
	case err == nil:
		done(w, r, page.Return, "linked")
	case errors.Is(err, connect.ErrAuthorizationPending), errors.Is(err, connect.ErrSlowDown):
		page.Error = "Not yet: enter the code at " + page.Provider + " and approve, then continue here."
		var de *connect.DeviceError
		if errors.As(err, &de) && de.Interval > 0 && errors.Is(err, connect.ErrSlowDown) {
			page.Error = "Not yet. Wait " + de.Interval.Round(time.Second).String() + " before you continue."
		}
		s.Render(w, r, http.StatusOK, "device_link", page)
	case errors.Is(err, connect.ErrExpiredToken):
		s.Error(w, r, http.StatusBadRequest, "The code expired before it was approved. Start again from your connections.")
	case errors.Is(err, connect.ErrAccessDenied):
		s.Error(w, r, http.StatusForbidden, "Access was not granted at the provider. Nothing was connected.")
	default:
		var pe *connect.ProviderError
		if errors.As(err, &pe) {
			page.Error = "The provider could not be asked just now. Try again in a moment."
			s.Render(w, r, http.StatusBadGateway, "device_link", page)
			return
		}
		s.flowFail(w, r, err)
	}
}

// flowFail answers a flow error in words for people.
func (s *Site) flowFail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *connect.ProviderError
	switch {
	case errors.Is(err, connect.ErrDeviceUnsupported):
		s.Error(w, r, http.StatusBadRequest, "This provider has no device sign-in here. Link it in the browser instead.")
	case errors.As(err, &pe):
		s.log.WarnContext(r.Context(), "upstream flow: provider failed", "err", err)
		s.Error(w, r, http.StatusBadGateway, "The provider could not be reached ("+pe.Op+"). Nothing was changed; try again.")
	default:
		s.fail(w, r, err)
	}
}

func (s *Site) checkConnection(w http.ResponseWriter, r *http.Request) {
	back := returnPath(r, "/connections")
	_, err := s.up.Validate(actorContext(r), principal(r), r.PathValue("id"))
	var pe *connect.ProviderError
	var re *connect.RefreshError
	switch {
	case err == nil, errors.As(err, &re):
		// A failed refresh was recorded on the connection; the page shows it.
		done(w, r, back, "checked")
	case errors.As(err, &pe):
		done(w, r, back, "check-failed")
	default:
		s.fail(w, r, err)
	}
}

func (s *Site) unlink(w http.ResponseWriter, r *http.Request) {
	back := returnPath(r, "/connections")
	res, err := s.up.DeleteConnection(actorContext(r), principal(r), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !res.Revoked && res.RevocationError != "" {
		done(w, r, back, "unlinked-kept")
		return
	}
	done(w, r, back, "unlinked")
}

// kindLabels name the provider kinds for people.
var kindLabels = map[core.ProviderKind]string{
	core.ProviderGitHub:                  "GitHub",
	core.ProviderGitHubEnterprise:        "GitHub Enterprise Server",
	core.ProviderGitLabHosted:            "GitLab.com",
	core.ProviderGitLabCommunityEdition:  "GitLab Community Edition",
	core.ProviderGitLabEnterpriseEdition: "GitLab Enterprise Edition",
	core.ProviderAzureDevOpsServer:       "Azure DevOps Server",
	core.ProviderAzureDevOpsServices:     "Azure DevOps Services",
	core.ProviderBitbucketHosted:         "Bitbucket Cloud",
	core.ProviderBitbucketServer:         "Bitbucket Server",
	core.ProviderBitbucketDataCenter:     "Bitbucket Data Center",
	core.ProviderGitea:                   "Gitea",
	core.ProviderGitee:                   "Gitee",
}

func kindLabel(k core.ProviderKind) string {
	if l, ok := kindLabels[k]; ok {
		return l
	}
	return string(k)
}

// KindChoice is a provider kind in a select.
type KindChoice struct {
	Kind  core.ProviderKind
	Label string
}

func kindChoices() []KindChoice {
	out := make([]KindChoice, 0, len(core.ProviderKinds))
	for _, k := range core.ProviderKinds {
		out = append(out, KindChoice{k, kindLabel(k)})
	}
	return out
}

// ClientRow is an OAuth client in the organization's list.
type ClientRow struct {
	Client   core.OAuthClient
	Provider string
}

// ClientsPage lists an organization's OAuth clients.
type ClientsPage struct {
	OrgNav
	Clients []ClientRow
	Pager   Pager
}

func (s *Site) clients(w http.ResponseWriter, r *http.Request) {
	o, pg := orgOf(r), pageOf(r)
	list, total, err := s.up.ListClients(r.Context(), principal(r), o.Name, pg)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page := ClientsPage{OrgNav: s.orgNav(r, "clients"), Pager: newPager(r, pg, total)}
	for _, oc := range list {
		row := ClientRow{Client: oc, Provider: kindLabel(oc.Kind)}
		page.Clients = append(page.Clients, row)
	}
	s.Render(w, r, http.StatusOK, "clients", page)
}

// ClientForm is the OAuth client form, as entered.
type ClientForm struct {
	Name, Kind, HTTPURL, APIURL, Key, Slug, Scopes string
	OrganizationScoped                             bool
	ProjectIDs                                     []string
	DeviceFlow                                     bool
}

// ClientPage creates (Client.ID empty) or shows and edits an OAuth client: its
// callback URL, the projects it serves, and the organization's connections made
// through it, with their health.
type ClientPage struct {
	OrgNav
	Client     core.OAuthClient
	Info       connect.ClientInfo
	Form       ClientForm
	Kinds      []KindChoice
	Projects   []core.Project
	Conns      []core.Connection
	Pager      Pager
	ConnectURL string
	Error      string
}

func (s *Site) clientPage(r *http.Request, page *ClientPage) error {
	page.OrgNav, page.Kinds = s.orgNav(r, "clients"), kindChoices()
	// Every project, for the scope checkboxes; organizations with very many
	// projects scope their clients through the API.
	prjs, _, err := s.acc.ListProjects(r.Context(), principal(r), page.Org.Name, pageOfSize(1, 500))
	if err != nil {
		return err
	}
	page.Projects = prjs
	if page.Client.ID == "" {
		return nil
	}
	if page.Info, err = s.up.Describe(page.Client); err != nil {
		return err
	}
	conns, err := s.up.ClientConnections(r.Context(), principal(r), page.Client.ID)
	if err != nil {
		return err
	}
	pg := pageOf(r)
	page.Conns, page.Pager = slicePage(conns, pg), newPager(r, pg, len(conns))
	back := orgPath(page.Org, "/clients/"+url.PathEscape(page.Client.ID)) + "?done=linked"
	page.ConnectURL = s.up.ConnectPath(page.Client) + "&" + url.Values{"return_to": {back}}.Encode()
	return nil
}

func formOfClient(oc core.OAuthClient) ClientForm {
	return ClientForm{Name: oc.Name, Kind: string(oc.Kind), HTTPURL: oc.HTTPURL, APIURL: oc.APIURL, Key: oc.Key, Slug: oc.Slug,
		Scopes: strings.Join(oc.Scopes, " "), OrganizationScoped: oc.OrganizationScoped, ProjectIDs: oc.ProjectIDs, DeviceFlow: !oc.DeviceFlowDisabled}
}

func (s *Site) newClient(w http.ResponseWriter, r *http.Request) {
	page := ClientPage{Form: ClientForm{Kind: string(core.ProviderGitHub), OrganizationScoped: true, DeviceFlow: true}}
	if err := s.clientPage(r, &page); err != nil {
		s.fail(w, r, err)
		return
	}
	s.Render(w, r, http.StatusOK, "client", page)
}

// clientInput reads the form. On create every field is sent; on update an empty
// secret keeps the one stored.
func clientInput(r *http.Request, creating bool) (ClientForm, connect.ClientInput) {
	f := r.PostForm
	form := ClientForm{Name: strings.TrimSpace(f.Get("name")), Kind: f.Get("kind"), HTTPURL: strings.TrimSpace(f.Get("http_url")),
		APIURL: strings.TrimSpace(f.Get("api_url")), Key: strings.TrimSpace(f.Get("key")), Slug: strings.TrimSpace(f.Get("slug")),
		Scopes: strings.TrimSpace(f.Get("scopes")), OrganizationScoped: f.Get("organization_scoped") == "on",
		ProjectIDs: f["project_ids"], DeviceFlow: f.Get("device_flow") == "on"}
	in := connect.ClientInput{Name: &form.Name, HTTPURL: &form.HTTPURL, APIURL: &form.APIURL, Key: &form.Key, Slug: &form.Slug,
		OrganizationScoped: &form.OrganizationScoped}
	if creating {
		kind := core.ProviderKind(form.Kind)
		in.Kind = &kind
	}
	if sec := f.Get("secret"); sec != "" || creating {
		in.Secret = &sec
	}
	scopes := strings.FieldsFunc(form.Scopes, func(r rune) bool { return r == ' ' || r == ',' || r == '\n' || r == '\r' || r == '\t' })
	in.Scopes = &scopes
	ids := slices.Clone(form.ProjectIDs)
	if ids == nil {
		ids = []string{}
	}
	in.ProjectIDs = &ids
	disabled := !form.DeviceFlow
	in.DeviceFlowDisabled = &disabled
	if tok := strings.TrimSpace(f.Get("oauth_token_string")); tok != "" {
		in.OAuthTokenString = &tok
	}
	return form, in
}

func (s *Site) clientFormError(w http.ResponseWriter, r *http.Request, page ClientPage, err error) {
	var pe *connect.ProviderError
	msg, status, ok := formError(err)
	switch {
	case ok:
	case errors.As(err, &pe):
		msg, status = "The provider could not be reached to check the token. Nothing was saved; try again.", http.StatusBadGateway
	default:
		s.fail(w, r, err)
		return
	}
	page.Error = msg
	if err := s.clientPage(r, &page); err != nil {
		s.fail(w, r, err)
		return
	}
	s.Render(w, r, status, "client", page)
}

func (s *Site) createClient(w http.ResponseWriter, r *http.Request) {
	o := orgOf(r)
	form, in := clientInput(r, true)
	oc, err := s.up.CreateClient(actorContext(r), principal(r), o.Name, in)
	if err != nil {
		s.clientFormError(w, r, ClientPage{Form: form}, err)
		return
	}
	done(w, r, orgPath(o, "/clients/"+url.PathEscape(oc.ID)), "client-created")
}

// orgClient is the client of the path, when it belongs to the organization of the
// path.
func (s *Site) orgClient(r *http.Request) (core.OAuthClient, error) {
	oc, err := s.up.Client(r.Context(), principal(r), r.PathValue("oc"))
	if err != nil {
		return oc, err
	}
	if oc.OrgID != orgOf(r).ID {
		return oc, core.ErrNotFound
	}
	return oc, nil
}

func (s *Site) client(w http.ResponseWriter, r *http.Request) {
	oc, err := s.orgClient(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page := ClientPage{Client: oc, Form: formOfClient(oc)}
	if err := s.clientPage(r, &page); err != nil {
		s.fail(w, r, err)
		return
	}
	s.Render(w, r, http.StatusOK, "client", page)
}

func (s *Site) updateClient(w http.ResponseWriter, r *http.Request) {
	oc, err := s.orgClient(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	form, in := clientInput(r, false)
	form.Kind = string(oc.Kind)
	if _, err := s.up.UpdateClient(actorContext(r), principal(r), oc.ID, in); err != nil {
		s.clientFormError(w, r, ClientPage{Client: oc, Form: form}, err)
		return
	}
	done(w, r, orgPath(orgOf(r), "/clients/"+url.PathEscape(oc.ID)), "client-updated")
}

func (s *Site) deleteClient(w http.ResponseWriter, r *http.Request) {
	oc, err := s.orgClient(r)
	if err == nil {
		err = s.up.DeleteClient(actorContext(r), principal(r), oc.ID)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	done(w, r, orgPath(orgOf(r), "/clients"), "client-deleted")
}

// orgConnection is the connection of the path, when it was made through the
// client of the path.
func (s *Site) orgConnection(r *http.Request) (core.OAuthClient, core.Connection, error) {
	oc, err := s.orgClient(r)
	if err != nil {
		return oc, core.Connection{}, err
	}
	c, err := s.up.Connection(r.Context(), principal(r), r.PathValue("id"))
	if err == nil && c.OAuthClientID != oc.ID {
		err = core.ErrNotFound
	}
	return oc, c, err
}

func (s *Site) checkOrgConnection(w http.ResponseWriter, r *http.Request) {
	oc, c, err := s.orgConnection(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	back := orgPath(orgOf(r), "/clients/"+url.PathEscape(oc.ID))
	_, err = s.up.Validate(actorContext(r), principal(r), c.ID)
	var pe *connect.ProviderError
	var re *connect.RefreshError
	switch {
	case err == nil, errors.As(err, &re):
		done(w, r, back, "checked")
	case errors.As(err, &pe):
		done(w, r, back, "check-failed")
	default:
		s.fail(w, r, err)
	}
}

func (s *Site) deleteOrgConnection(w http.ResponseWriter, r *http.Request) {
	oc, c, err := s.orgConnection(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.up.DeleteConnection(actorContext(r), principal(r), c.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	back := orgPath(orgOf(r), "/clients/"+url.PathEscape(oc.ID))
	if !res.Revoked && res.RevocationError != "" {
		done(w, r, back, "unlinked-kept")
		return
	}
	done(w, r, back, "connection-gone")
}
