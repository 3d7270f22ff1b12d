// Package apitest has what the dialects' tests share to look at the wire: a
// recording http.RoundTripper (status, headers and raw body of every answer), a raw
// request helper, and golden files of answers with run-to-run values normalised,
// rewritten with `go test -update`.
//
// A test package that imports it gets the -update flag from it and must not
// define its own.
package apitest

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Update is the -update flag: rewrite the golden files in testdata/.
var Update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Exchange is one recorded request and response.
type Exchange struct {
	Method, Path string
	Status       int
	Header       http.Header
	Body         []byte
}

// Recorder is an http.RoundTripper that keeps every response's status, headers and
// raw body, so tests can assert on the wire as well as on what a client parsed.
type Recorder struct {
	// Header is added to every request (the credentials of a raw client).
	Header http.Header
	// Next sends the requests; http.DefaultTransport when nil.
	Next http.RoundTripper

	mu sync.Mutex
	ex []Exchange
}

// RoundTrip implements http.RoundTripper.
func (r *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(r.Header) > 0 {
		req = req.Clone(req.Context())
		for k, v := range r.Header {
			req.Header[k] = v
		}
	}
	next := r.Next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	r.ex = append(r.ex, Exchange{Method: req.Method, Path: req.URL.Path, Status: resp.StatusCode, Header: resp.Header.Clone(), Body: body})
	r.mu.Unlock()
	return resp, nil
}

// Last is the last exchange; the test fails when there is none.
func (r *Recorder) Last(t testing.TB) Exchange {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ex) == 0 {
		t.Fatal("no exchange recorded")
	}
	return r.ex[len(r.ex)-1]
}

// All are the exchanges so far, oldest first.
func (r *Recorder) All() []Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Exchange(nil), r.ex...)
}

// NoSecrets fails when a response body seen so far holds one of secrets.
func (r *Recorder) NoSecrets(t testing.TB, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, ex := range r.All() {
			if bytes.Contains(ex.Body, []byte(s)) {
				t.Errorf("a response body holds a secret (%.12s…): %.300s", s, ex.Body)
			}
		}
	}
}

// Raw sends a request to base+path with header and contentType set ("" for none)
// and returns what came back.
func Raw(t testing.TB, base string, header http.Header, method, path, contentType, body string) Exchange {
	t.Helper()
	rec := &Recorder{Header: header}
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := (&http.Client{Transport: rec}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return rec.Last(t)
}

// Shape says what of an answer a golden document keeps, and how values that
// change from run to run are normalised.
type Shape struct {
	// Headers are the response headers a client reads; they are part of the shape.
	Headers []string
	// Text normalises header values and, when Value leaves a string as is, strings
	// of the body (addresses, ids); nil keeps them.
	Text func(string) string
	// Value replaces a volatile scalar of the body (a string or json.Number under
	// key) with a placeholder, and returns it unchanged otherwise. It should
	// replace a value only when it has the expected form, so that a change of
	// wire format shows in the diff.
	Value func(key string, v any) any
}

// Document is the answer's status, the Shape's headers and its JSON body,
// normalised, as an indented JSON document.
func (s Shape) Document(t testing.TB, name string, ex Exchange) []byte {
	t.Helper()
	text := s.Text
	if text == nil {
		text = func(v string) string { return v }
	}
	doc := map[string]any{"status": ex.Status}
	hs := map[string]string{}
	for _, k := range s.Headers {
		if v, ok := ex.Header[k]; ok {
			hs[k] = text(strings.Join(v, ", "))
		}
	}
	doc["headers"] = hs
	if len(bytes.TrimSpace(ex.Body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(ex.Body))
		dec.UseNumber()
		var body any
		if err := dec.Decode(&body); err != nil {
			t.Fatalf("%s: the body is not JSON: %v\n%s", name, err, ex.Body)
		}
		doc["body"] = s.walk("", body, text)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// walk normalises every scalar under v; the key of an array's elements is the
// array's.
func (s Shape) walk(key string, v any, text func(string) string) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			out[k] = s.walk(k, x, text)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = s.walk(key, x, text)
		}
		return out
	case nil, bool:
		return v
	}
	if s.Value != nil {
		n := s.Value(key, v)
		if str, ok := v.(string); !ok || n != any(str) {
			return n
		}
	}
	if str, ok := v.(string); ok {
		return text(str)
	}
	return v
}

// Golden compares the answer's document (Shape.Document) with
// testdata/name.golden.json.
func (s Shape) Golden(t testing.TB, name string, ex Exchange) {
	t.Helper()
	Golden(t, name, s.Document(t, name, ex))
}

var (
	writeMu sync.Mutex
	written = map[string]bool{}
)

// Golden compares got with testdata/name.golden.json. With -update the first test
// of the run to reach a name writes the file and later ones compare with it, so
// that two runs of one test (on two databases, with two kinds of credentials)
// must agree.
func Golden(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden.json")
	if *Update {
		writeMu.Lock()
		first := !written[path]
		written[path] = true
		var err error
		if first {
			if err = os.MkdirAll("testdata", 0o755); err == nil {
				err = os.WriteFile(path, got, 0o644)
			}
		}
		writeMu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if first {
			return
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}
