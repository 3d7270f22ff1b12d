package httpx

import (
	"net/http/httptest"
	"testing"

	"github.com/vcsauth/vcsauth/internal/store"
)

func TestPageParams(t *testing.T) {
	t.Parallel()
	for query, want := range map[string]store.Page{
		"":                       {Number: 1, Size: 30},
		"?page=3&per_page=10":    {Number: 3, Size: 10},
		"?page=0&per_page=-1":    {Number: 1, Size: 30},
		"?page=x&per_page=1000":  {Number: 1, Size: MaxPerPage},
		"?page=999999999999&x=1": {Number: maxPage, Size: 30},
	} {
		if got := PageParams(httptest.NewRequest("GET", "/"+query, nil), 30); got != want {
			t.Errorf("%q: %+v, want %+v", query, got, want)
		}
	}
}
