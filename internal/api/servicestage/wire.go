package servicestage

import (
	"net/http"
	"strings"

	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
)

// Error codes (error_code); see the package comment for when each is sent. The
// numbers are stable: clients match on them.
const (
	CodeInvalidParameter      = "SVCSTG.REPO.0400"
	CodeUnsupportedRepoType   = "SVCSTG.REPO.0401"
	CodeInvalidState          = "SVCSTG.REPO.0402"
	CodeNameTaken             = "SVCSTG.REPO.0403"
	CodeCredentialRefused     = "SVCSTG.REPO.0404"
	CodeRepoTypeNotConfigured = "SVCSTG.REPO.0405"
	CodeAuthorizationRefused  = "SVCSTG.REPO.0406"
	CodeUnauthenticated       = "SVCSTG.REPO.0410"
	CodeSignatureExpired      = "SVCSTG.REPO.0411"
	CodeSignatureReplayed     = "SVCSTG.REPO.0412"
	CodeForbidden             = "SVCSTG.REPO.0430"
	CodeThrottled             = "SVCSTG.REPO.0431"
	CodeProjectNotFound       = "SVCSTG.REPO.0440"
	CodeAuthorizationNotFound = "SVCSTG.REPO.0441"
	CodeNoSuchOperation       = "SVCSTG.REPO.0442"
	CodeInternal              = "SVCSTG.REPO.0500"
	CodeProviderFailed        = "SVCSTG.REPO.0502"
)

// errorJSON is the dialect's error body.
type errorJSON struct {
	ErrorCode string `json:"error_code"`
	ErrorMsg  string `json:"error_msg"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	_ = httpx.WriteJSON(w, status, errorJSON{ErrorCode: code, ErrorMsg: msg})
}

// Render is the dialect's httpx.ErrorRenderer (panics, and anything the shared
// middleware answers in our name). A 5xx never carries the error's text.
func Render(w http.ResponseWriter, _ *http.Request, status int, err error) {
	code, msg := CodeInternal, "internal server error"
	if status < 500 {
		code, msg = CodeInvalidParameter, http.StatusText(status)
		if err != nil {
			msg = err.Error()
		}
	}
	writeError(w, status, code, msg)
}

// authorizationJSON is ServiceStage's AuthorizationVi; listedJSON, with tag, its
// AuthorizationVo.
type authorizationJSON struct {
	Name      string `json:"name"`
	RepoType  string `json:"repo_type"`
	RepoHost  string `json:"repo_host"`
	RepoHome  string `json:"repo_home"`
	RepoUser  string `json:"repo_user"`
	Avartar   string `json:"avartar"` // sic: the real API spells it so
	TokenType string `json:"token_type"`
	// Milliseconds since the epoch.
	CreateTime int64 `json:"create_time"`
	UpdateTime int64 `json:"update_time"`
	// 0 normal, 1 expired, 2 unauthenticated.
	Status int `json:"status"`
}

type listedJSON struct {
	authorizationJSON
	// Tag echoes the request's tag query parameter; null without one.
	Tag *string `json:"tag"`
}

type listJSON struct {
	Authorizations []listedJSON `json:"authorizations"`
	Count          int          `json:"count"`
}

type createdJSON struct {
	Authorization authorizationJSON `json:"authorization"`
}

type redirectJSON struct {
	URL string `json:"url"`
}

// Request bodies.
type oauthBody struct {
	Name  string `json:"name"`
	Code  string `json:"code"`
	State string `json:"state"`
}

type personalBody struct {
	Name  string `json:"name"`
	Token string `json:"token"`
	Host  string `json:"host"`
}

type passwordBody struct {
	Name     string `json:"name"`
	User     string `json:"user"`
	Password string `json:"password"`
}

func authorization(a connect.ProjectAuthorization) authorizationJSON {
	c := a.Connection
	user := c.UpstreamLogin
	if user == "" && c.CredentialKind == core.CredentialPassword {
		user = c.Username
	}
	return authorizationJSON{
		Name: c.Name, RepoType: a.RepoType, RepoHost: a.RepoHost, RepoHome: c.ProfileURL, RepoUser: user,
		Avartar: c.AvatarURL, TokenType: tokenType(c.CredentialKind),
		CreateTime: c.CreatedAt.UnixMilli(), UpdateTime: c.UpdatedAt.UnixMilli(), Status: status(a.State),
	}
}

func tokenType(k core.CredentialKind) string {
	switch k {
	case core.CredentialOAuth:
		return "oauth"
	case core.CredentialPersonal:
		return "personal"
	case core.CredentialPassword:
		return "password"
	}
	return string(k)
}

func status(s connect.AuthState) int {
	switch s {
	case connect.AuthExpired:
		return 1
	case connect.AuthUnauthenticated:
		return 2
	}
	return 0
}

// wireFields are the dialect's names for the engine's fields, where they differ.
var wireFields = map[string]string{"username": "user"}

// validationMessage words a validation error with the dialect's field names.
func validationMessage(v *core.ValidationError) string {
	if v.Field == "" {
		return v.Message
	}
	f := v.Field
	if w, ok := wireFields[f]; ok {
		f = w
	}
	if v.Code == "missing" {
		return f + " is missing"
	}
	if strings.HasPrefix(v.Message, f+" ") {
		return v.Message
	}
	return f + ": " + v.Message
}
