package httpx

import (
	"net/http"
	"strconv"

	"github.com/vcsauth/vcsauth/internal/store"
)

// MaxPerPage caps per_page, as GitHub and GitLab do.
const MaxPerPage = 100

// maxPage keeps page × per_page far from overflowing an OFFSET.
const maxPage = 1 << 20

// PageParams reads the page and per_page query parameters of GitHub's and GitLab's
// APIs: values that are not positive integers take the defaults (page 1,
// defaultSize), per_page is capped at MaxPerPage.
func PageParams(r *http.Request, defaultSize int) store.Page {
	q := r.URL.Query()
	p := store.Page{Number: 1, Size: defaultSize}
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 0 {
		p.Number = min(n, maxPage)
	}
	if n, err := strconv.Atoi(q.Get("per_page")); err == nil && n > 0 {
		p.Size = min(n, MaxPerPage)
	}
	return p
}

// PathID reads a positive integer id from the path parameter name; anything else
// names nothing (ok false).
func PathID(r *http.Request, name string) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	return id, err == nil && id > 0
}
