package tfe

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/httpx"
)

// Request documents are decoded by hand rather than with jsonapi.UnmarshalPayload:
// an update keeps every attribute that is absent, so absent and present (even null)
// must differ, and every refusal names the member at fault in source.pointer.
// Members are matched exactly (encoding/json would match "TYPE" to a field "type").
// Members this dialect does not read are ignored, as clients send more than we use
// (go-tfe sends every attribute of a project it attaches).

// invalid is a 422 about the member at ptr.
func invalid(ptr, format string, args ...any) error {
	return &apiError{Status: http.StatusUnprocessableEntity, Title: "invalid attribute",
		Detail: fmt.Sprintf(format, args...), Pointer: pointer(ptr)}
}

// readData reads the request document and returns its primary data. The body may be
// sent as application/vnd.api+json or as plain JSON.
func readData(r *http.Request) (json.RawMessage, error) {
	var doc map[string]json.RawMessage
	if err := httpx.DecodeJSON(r, &doc); err != nil {
		if v, ok := core.AsValidation(err); ok && !errors.Is(err, httpx.ErrBodyTooLarge) {
			return nil, &apiError{Status: http.StatusUnprocessableEntity, Title: "invalid document",
				Detail: v.Message + " (a JSON:API document is expected)", Pointer: pointer("")}
		}
		return nil, err
	}
	data, ok := doc["data"]
	if !ok || isNull(data) {
		return nil, invalid("/data", "the document has no primary data")
	}
	return data, nil
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// object decodes raw as a JSON object, or refuses it as the member at ptr.
func object(raw json.RawMessage, ptr, what string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, invalid(ptr, "%s must be an object", what)
	}
	return m, nil
}

// stringMember reads a member that must be a string; ok is false when it is absent
// or null.
func stringMember(m map[string]json.RawMessage, name, ptr string) (s string, ok bool, err error) {
	raw, present := m[name]
	if !present || isNull(raw) {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, invalid(ptr, "%s must be a string", name)
	}
	return s, true, nil
}

// resource is a resource object of a request: its type checked, its id if it has
// one, its attributes and relationships undecoded until asked for.
type resource struct {
	id    string
	hasID bool
	attrs map[string]json.RawMessage
	rels  map[string]json.RawMessage
}

// decodeResource reads data as one resource object of type want.
func decodeResource(data json.RawMessage, want string) (*resource, error) {
	m, err := object(data, "/data", "data")
	if err != nil {
		return nil, err
	}
	typ, ok, err := stringMember(m, "type", "/data/type")
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, invalid("/data/type", "type is missing; it must be %q", want)
	case typ != want:
		return nil, invalid("/data/type", "type must be %q, not %s", want, strconv.Quote(typ))
	}
	res := &resource{attrs: map[string]json.RawMessage{}, rels: map[string]json.RawMessage{}}
	if res.id, res.hasID, err = stringMember(m, "id", "/data/id"); err != nil {
		return nil, err
	}
	if raw, ok := m["attributes"]; ok && !isNull(raw) {
		if res.attrs, err = object(raw, "/data/attributes", "attributes"); err != nil {
			return nil, err
		}
	}
	if raw, ok := m["relationships"]; ok && !isNull(raw) {
		if res.rels, err = object(raw, "/data/relationships", "relationships"); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// checkID refuses a data.id that names another resource than the path. An update's
// body may carry no id at all (go-tfe sends none).
func (res *resource) checkID(pathID string) error {
	if res.hasID && res.id != pathID {
		return invalid("/data/id", "id %s does not match the resource in the path", strconv.Quote(res.id))
	}
	return nil
}

func attrPointer(name string) string { return "/data/attributes/" + name }

// str reads a string attribute: nil when absent, "" when null (a value to clear).
func (res *resource) str(name string) (*string, error) {
	raw, ok := res.attrs[name]
	if !ok {
		return nil, nil
	}
	var s string
	if !isNull(raw) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, invalid(attrPointer(name), "%s must be a string", name)
		}
	}
	return &s, nil
}

// optional reads a string attribute for which null means "not given": secrets,
// which an update never clears by accident, and the service provider.
func (res *resource) optional(name string) (*string, error) {
	if raw, ok := res.attrs[name]; ok && isNull(raw) {
		return nil, nil
	}
	return res.str(name)
}

// boolean reads a boolean attribute; null is "not given".
func (res *resource) boolean(name string) (*bool, error) {
	raw, ok := res.attrs[name]
	if !ok || isNull(raw) {
		return nil, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, invalid(attrPointer(name), "%s must be true or false", name)
	}
	return &b, nil
}

// relationshipData returns the data member of relationship name (ok false when the
// relationship is absent).
func (res *resource) relationshipData(name string) (json.RawMessage, string, bool, error) {
	raw, ok := res.rels[name]
	if !ok {
		return nil, "", false, nil
	}
	ptr := "/data/relationships/" + name
	m, err := object(raw, ptr, name)
	if err != nil {
		return nil, "", false, err
	}
	data, ok := m["data"]
	if !ok {
		return nil, "", false, invalid(ptr, "relationship %s has no data member", name)
	}
	return data, ptr + "/data", true, nil
}

// toMany reads a to-many relationship as ids of type typ: nil when absent, empty
// when its data is [] (or null), which clears it.
func (res *resource) toMany(name, typ string) (*[]string, error) {
	data, ptr, ok, err := res.relationshipData(name)
	if err != nil || !ok {
		return nil, err
	}
	ids := []string{}
	if isNull(data) {
		return &ids, nil
	}
	if ids, err = identifiers(data, typ, ptr); err != nil {
		return nil, err
	}
	return &ids, nil
}

// toOne reads a to-one relationship's id: nil when absent, "" when its data is
// null.
func (res *resource) toOne(name, typ string) (*string, error) {
	data, ptr, ok, err := res.relationshipData(name)
	if err != nil || !ok {
		return nil, err
	}
	id := ""
	if !isNull(data) {
		if id, err = identifier(data, typ, ptr); err != nil {
			return nil, err
		}
	}
	return &id, nil
}

// identifiers reads an array of resource identifiers of type typ at ptr. Members
// besides type and id (go-tfe sends a project's attributes and relationships) are
// ignored.
func identifiers(data json.RawMessage, typ, ptr string) ([]string, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(data, &elems); err != nil {
		return nil, invalid(ptr, "data must be an array of %s identifiers", typ)
	}
	ids := make([]string, 0, len(elems))
	for i, raw := range elems {
		id, err := identifier(raw, typ, ptr+"/"+strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func identifier(raw json.RawMessage, typ, ptr string) (string, error) {
	m, err := object(raw, ptr, "a resource identifier")
	if err != nil {
		return "", err
	}
	t, ok, err := stringMember(m, "type", ptr+"/type")
	switch {
	case err != nil:
		return "", err
	case !ok || t != typ:
		return "", invalid(ptr+"/type", "type must be %q", typ)
	}
	id, ok, err := stringMember(m, "id", ptr+"/id")
	switch {
	case err != nil:
		return "", err
	case !ok || id == "":
		return "", invalid(ptr+"/id", "id is missing")
	}
	return id, nil
}
