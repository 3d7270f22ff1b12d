package web

import "github.com/vcsauth/vcsauth/internal/core"

// The data of each page. Pages rendered by other packages use these types, so the
// templates and their callers agree at compile time.

// LoginPage is the sign-in page. With OTPStep it asks for the second factor, and
// carries the username and password of the first step in hidden fields (the page
// is never cached).
type LoginPage struct {
	Next     string
	Username string
	Password string
	OTPStep  bool
	Error    string
}

// HomePage is the landing page of a signed-in person. Attention counts their
// connections that are not healthy.
type HomePage struct {
	Attention int
}

// ScopeText is a scope with the sentence that tells a person what it allows.
type ScopeText struct {
	Name        string
	Description string
}

var scopeDescriptions = map[string]string{
	core.ScopeAPI:         "do everything you can do, in your name",
	core.ScopeReadAPI:     "read everything you can read",
	core.ScopeReadUser:    "read your profile",
	core.ScopeCredentials: "get Git credentials of the connections you may use",
	core.ScopeConnections: "link and unlink your Git provider connections",
	core.ScopeAdmin:       "administer the organizations (and the site) you administer",
}

// DescribeScopes returns the scopes with their descriptions, in the order given.
func DescribeScopes(scopes []string) []ScopeText {
	out := make([]ScopeText, 0, len(scopes))
	for _, s := range scopes {
		d, ok := scopeDescriptions[s]
		if !ok {
			d = "a permission this server does not describe"
		}
		out = append(out, ScopeText{Name: s, Description: d})
	}
	return out
}

// HiddenField is a hidden input of a form.
type HiddenField struct {
	Name  string
	Value string
}

// ConsentPage asks a person to let an application act for them. Its form posts the
// Fields (the authorization request) and a decision, "approve" or "deny", to Action.
type ConsentPage struct {
	AppName string
	Scopes  []ScopeText
	// RedirectTo is shown: where the browser goes after the decision.
	RedirectTo string
	Action     string
	Fields     []HiddenField
	// Sources are added to the page's CSP form-action (see CSPSource).
	Sources []string
}

// FormActions implements FormActioner.
func (c ConsentPage) FormActions() []string { return c.Sources }

// DeviceEntryPage asks for the user code a device shows.
type DeviceEntryPage struct {
	UserCode string
	Error    string
}

// DeviceConsentPage asks a person to let a device's application act for them; the
// form posts user_code and a decision to /device.
type DeviceConsentPage struct {
	AppName  string
	UserCode string
	Scopes   []ScopeText
}

// DeviceDonePage tells the person what happened.
type DeviceDonePage struct {
	AppName  string
	Approved bool
}

// The pages of the upstream flows (api/native renders them with Site.Render, so
// they look like the rest of the site).

// ConnectedPage ends a browser flow that had nowhere to return to ("connected").
type ConnectedPage struct {
	Provider string // "GitHub"; may be empty
	Login    string // the upstream account
	Owner    string // "user", "organization" or "project"
	Relinked bool
}

// HandBackPage gives a flow's code and state back to the platform that asked for
// them ("handback"): they are secrets, single use, and shown on this page only.
type HandBackPage struct {
	Code, State string
}

// ConfirmStartPage asks a person sent from another site to confirm the start of
// a flow ("confirm_start"): the form posts Fields back to Action.
type ConfirmStartPage struct {
	Action string
	Fields []HiddenField
}
