package tfe

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/jsonapi"

	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
	"github.com/vcsauth/vcsauth/internal/store"
)

// includes is the set of relationship types a request asked to include.
type includes map[string]bool

// writeOne writes one resource; writeMany a list with its pagination meta.
func writeOne(w http.ResponseWriter, status int, model any, inc includes) error {
	p, err := jsonapi.Marshal(model)
	if err != nil {
		return err
	}
	one, ok := p.(*jsonapi.OnePayload)
	if !ok {
		return fmt.Errorf("tfe: %T is not one resource", model)
	}
	one.Included = filterIncluded(one.Included, inc)
	return writeDoc(w, status, one)
}

func writeMany(w http.ResponseWriter, models any, inc includes, meta *jsonapi.Meta) error {
	p, err := jsonapi.Marshal(models)
	if err != nil {
		return err
	}
	many, ok := p.(*jsonapi.ManyPayload)
	if !ok {
		return fmt.Errorf("tfe: %T is not a list of resources", models)
	}
	many.Included = filterIncluded(many.Included, inc)
	many.Meta = meta
	return writeDoc(w, http.StatusOK, many)
}

// filterIncluded keeps what was asked for, in a stable order. jsonapi sideloads
// every related resource and keeps them in a map.
func filterIncluded(nodes []*jsonapi.Node, inc includes) []*jsonapi.Node {
	out := slices.DeleteFunc(nodes, func(n *jsonapi.Node) bool { return !inc[n.Type] })
	slices.SortFunc(out, func(a, b *jsonapi.Node) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.ID, b.ID))
	})
	if len(out) == 0 {
		return nil
	}
	return out
}

// writeDoc encodes a whole document before anything is sent, so a failure can
// still become a 500.
func writeDoc(w http.ResponseWriter, status int, doc any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", MediaType)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// apiError is one JSON:API error object. Pointer names the member of the request
// document at fault ("" is the whole document), Parameter the query parameter.
type apiError struct {
	Status    int
	Title     string
	Detail    string
	Pointer   *string
	Parameter string
}

func (e *apiError) Error() string {
	if e.Detail != "" {
		return e.Title + ": " + e.Detail
	}
	return e.Title
}

type errorSource struct {
	Pointer   *string `json:"pointer,omitempty"`
	Parameter string  `json:"parameter,omitempty"`
}

type errorObject struct {
	Status string       `json:"status"`
	Title  string       `json:"title"`
	Detail string       `json:"detail,omitempty"`
	Source *errorSource `json:"source,omitempty"`
}

var notFound = apiError{Status: http.StatusNotFound, Title: "not found",
	Detail: "the resource does not exist, or you may not see it"}

func pointer(p string) *string { return &p }

// writeErrors writes an errors document.
func writeErrors(w http.ResponseWriter, status int, errs ...apiError) {
	doc := struct {
		Errors []errorObject `json:"errors"`
	}{Errors: make([]errorObject, 0, len(errs))}
	for _, e := range errs {
		o := errorObject{Status: strconv.Itoa(e.Status), Title: e.Title, Detail: e.Detail}
		if e.Pointer != nil || e.Parameter != "" {
			o.Source = &errorSource{Pointer: e.Pointer, Parameter: e.Parameter}
		}
		doc.Errors = append(doc.Errors, o)
	}
	_ = writeDoc(w, status, doc)
}

// renderError is the dialect's httpx.ErrorRenderer (for Recover's 500s): no error
// text in a 5xx body.
func renderError(w http.ResponseWriter, _ *http.Request, status int, err error) {
	e := apiError{Status: status, Title: strings.ToLower(http.StatusText(status))}
	if err != nil && status < 500 {
		e.Detail = err.Error()
	}
	writeErrors(w, status, e)
}

// pointerFunc names the member of the request document a core field came from.
type pointerFunc func(field string) string

// attributePointer is the default: /data/attributes/<kebab-case field>, with the
// core's names that differ from the wire's translated.
func attributePointer(field string) string {
	switch field {
	case "":
		return "/data"
	case "kind":
		return "/data/attributes/service-provider"
	case "projects":
		return "/data/relationships/projects"
	case "agent_pool_id", "agent_pool":
		return "/data/relationships/agent-pool"
	case "device_flow_disabled":
		return "/data/attributes/device-flow"
	}
	return "/data/attributes/" + strings.ReplaceAll(field, "_", "-")
}

// fail answers an error of the engine (or of decoding) in JSON:API.
func (h *handlers) fail(w http.ResponseWriter, r *http.Request, err error, ptr pointerFunc) {
	if ptr == nil {
		ptr = attributePointer
	}
	var (
		ae   *apiError
		prov *connect.ProviderError
	)
	v, isValidation := core.AsValidation(err)
	switch {
	case errors.As(err, &ae):
		writeErrors(w, ae.Status, *ae)
	case errors.Is(err, httpx.ErrBodyTooLarge):
		writeErrors(w, http.StatusRequestEntityTooLarge, apiError{Status: http.StatusRequestEntityTooLarge,
			Title: "payload too large", Detail: err.Error()})
	case isValidation:
		writeErrors(w, http.StatusUnprocessableEntity, apiError{Status: http.StatusUnprocessableEntity,
			Title: "invalid attribute", Detail: validationDetail(v), Pointer: pointer(ptr(v.Field))})
	case errors.Is(err, core.ErrNotFound):
		writeErrors(w, http.StatusNotFound, notFound)
	case errors.Is(err, core.ErrForbidden):
		writeErrors(w, http.StatusForbidden, apiError{Status: http.StatusForbidden, Title: "forbidden",
			Detail: "only the organization's owners and admins may do this (with a token allowed to administer)"})
	case errors.Is(err, core.ErrUnauthenticated):
		writeErrors(w, http.StatusUnauthorized, apiError{Status: http.StatusUnauthorized, Title: "unauthorized"})
	case errors.Is(err, core.ErrConflict), errors.Is(err, core.ErrStale):
		writeErrors(w, http.StatusConflict, apiError{Status: http.StatusConflict, Title: "conflict",
			Detail: "the resource changed or exists already; read it again and retry"})
	case errors.As(err, &prov):
		h.log.WarnContext(r.Context(), "tfe: provider call failed", "op", prov.Op, "err", prov.Err)
		writeErrors(w, http.StatusBadGateway, apiError{Status: http.StatusBadGateway, Title: "bad gateway",
			Detail: "the VCS provider could not be reached or did not answer (" + prov.Op + "); nothing was changed"})
	default:
		h.log.ErrorContext(r.Context(), "tfe: request failed", "method", r.Method, "route", r.Pattern, "err", err)
		writeErrors(w, http.StatusInternalServerError, apiError{Status: http.StatusInternalServerError, Title: "internal server error"})
	}
}

// validationDetail says what is wrong in the wire's words: the core's messages
// name a field in words ("http url is missing", "http url must be …"), which
// becomes the attribute's name as the client sent it ("http-url is missing").
func validationDetail(v *core.ValidationError) string {
	msg := v.Message
	if v.Field == "" {
		return msg
	}
	if words := strings.ReplaceAll(v.Field, "_", " ") + " "; strings.HasPrefix(msg, words) {
		return wireName(v.Field) + " " + msg[len(words):]
	}
	return wireName(v.Field) + ": " + msg
}

func wireName(field string) string {
	p := attributePointer(field)
	return p[strings.LastIndexByte(p, '/')+1:]
}

// write answers a model, or a 500 when it cannot be encoded.
func (h *handlers) write(w http.ResponseWriter, r *http.Request, status int, model any, inc includes) {
	if err := writeOne(w, status, model, inc); err != nil {
		h.fail(w, r, fmt.Errorf("tfe: encoding: %w", err), nil)
	}
}

func (h *handlers) writeList(w http.ResponseWriter, r *http.Request, models any, inc includes, pg page, total int) {
	if err := writeMany(w, models, inc, pg.meta(total)); err != nil {
		h.fail(w, r, fmt.Errorf("tfe: encoding: %w", err), nil)
	}
}

// Pagination: page[number] and page[size] (default 20, at most 100). With neither,
// the whole list is one page.
const (
	defaultPageSize = 20
	maxPageSize     = 100
	maxPageNumber   = 1_000_000_000
)

type page struct {
	number, size int
	all          bool
}

func parsePage(q url.Values) (page, error) {
	num, size := q.Get("page[number]"), q.Get("page[size]")
	if num == "" && size == "" {
		return page{number: 1, all: true}, nil
	}
	pg := page{number: 1, size: defaultPageSize}
	if num != "" {
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > maxPageNumber {
			return page{}, &apiError{Status: http.StatusBadRequest, Title: "invalid page parameter",
				Detail: "page[number] must be a whole number from 1", Parameter: "page[number]"}
		}
		pg.number = n
	}
	if size != "" {
		n, err := strconv.Atoi(size)
		if err != nil || n < 1 {
			return page{}, &apiError{Status: http.StatusBadRequest, Title: "invalid page parameter",
				Detail: "page[size] must be a whole number from 1 to 100", Parameter: "page[size]"}
		}
		pg.size = min(n, maxPageSize)
	}
	return pg, nil
}

// store is the page as the store takes it (Size 0: everything).
func (pg page) store() store.Page {
	if pg.all {
		return store.Page{}
	}
	return store.Page{Number: pg.number, Size: pg.size}
}

// meta is the list's meta.pagination. There is always a page 1, empty or not.
func (pg page) meta(total int) *jsonapi.Meta {
	pages := 1
	if !pg.all && total > 0 {
		pages = (total + pg.size - 1) / pg.size
	}
	var prev, next *int
	if pg.number > 1 {
		prev = pointerTo(pg.number - 1)
	}
	if pg.number < pages {
		next = pointerTo(pg.number + 1)
	}
	return &jsonapi.Meta{"pagination": struct {
		Current    int  `json:"current-page"`
		Prev       *int `json:"prev-page"`
		Next       *int `json:"next-page"`
		TotalPages int  `json:"total-pages"`
		TotalCount int  `json:"total-count"`
	}{pg.number, prev, next, pages, total}}
}

func pointerTo[T any](v T) *T { return &v }

// window is the page of a list held in memory.
func window[T any](items []T, pg page) []T {
	if pg.all {
		return items
	}
	start := (pg.number - 1) * pg.size
	if start >= len(items) {
		return items[:0]
	}
	return items[start:min(start+pg.size, len(items))]
}

// parseIncludes reads include=a,b against what the endpoint offers (wire name →
// resource type). An unknown name is a 400 whose detail says "include parameter",
// which go-tfe turns into its ErrInvalidIncludeValue.
func parseIncludes(q url.Values, offered map[string]string) (includes, error) {
	inc := includes{}
	for _, v := range q["include"] {
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			typ, ok := offered[name]
			if !ok {
				return nil, &apiError{Status: http.StatusBadRequest, Title: "invalid include parameter",
					Detail:    fmt.Sprintf("invalid include parameter %q: this endpoint can include %s", name, offeredNames(offered)),
					Parameter: "include"}
			}
			inc[typ] = true
		}
	}
	return inc, nil
}

func offeredNames(offered map[string]string) string {
	names := make([]string, 0, len(offered))
	for k := range offered {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
