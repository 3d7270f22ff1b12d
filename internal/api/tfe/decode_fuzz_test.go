package tfe

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzDecode feeds arbitrary primary data to the request decoders: they must never
// panic, and every refusal must be a 422 whose pointer names a member under /data.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"oauth-clients","attributes":{"service-provider":"github","name":null,"organization-scoped":true},"relationships":{"projects":{"data":[{"type":"projects","id":"prj-1"}]},"agent-pool":{"data":null}}}`,
		`{"type":"oauth-clients","id":"oc-1","attributes":{"device-flow":false,"slug":"x"}}`,
		`{"type":"oauth-tokens","attributes":{"ssh-key":"-----BEGIN OPENSSH PRIVATE KEY-----"}}`,
		`[{"type":"projects","id":"prj-1","attributes":{"name":""},"relationships":{"organization":{"data":null}}}]`,
		`{"type":7}`, `[]`, `null`, `"x"`, `{"type":"oauth-clients","relationships":{"projects":{"data":{}}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(err error) {
			if err == nil {
				return
			}
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 422 || ae.Pointer == nil || !strings.HasPrefix(*ae.Pointer, "/data") {
				t.Fatalf("refusal %#v (%v) is not a 422 pointing into /data", ae, err)
			}
		}
		if !json.Valid(data) {
			return // readData refuses it before any decoder sees it
		}
		res, err := decodeResource(data, typeOAuthClients)
		check(err)
		if err == nil {
			_, err = clientInput(res)
			check(err)
			check(res.checkID("oc-1"))
		}
		_, err = identifiers(data, typeProjects, "/data")
		check(err)
	})
}
