package config

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func TestParseEnvTwins(t *testing.T) {
	t.Parallel()
	env := map[string]string{"VCSAUTH_LISTEN": "127.0.0.1:0", "VCSAUTH_DATA_DIR": "/env/dir", "VCSAUTH_DEV": "true",
		"VCSAUTH_CACHE_TTL": "250ms"}
	tests := []struct {
		name    string
		args    []string
		want    Serve
		wantErr string
	}{
		{name: "env fills unset flags", args: nil,
			want: Serve{Store: Store{DataDir: "/env/dir"}, Listen: "127.0.0.1:0", Dev: true, CacheTTL: 250 * time.Millisecond}},
		{name: "flag wins over env", args: []string{"--data-dir", "/flag/dir", "--dev=false", "--cache-ttl", "0", "--debug-listen", "127.0.0.1:6060"},
			want: Serve{Store: Store{DataDir: "/flag/dir"}, Listen: "127.0.0.1:0", DebugListen: "127.0.0.1:6060"}},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: "flag provided but not defined: -nope"},
		{name: "stray argument", args: []string{"extra"}, wantErr: `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c Serve
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			c.Register(fs)
			err := Parse(fs, tt.args, func(k string) string { return env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c != tt.want {
				t.Fatalf("got %+v, want %+v", c, tt.want)
			}
		})
	}
}

func TestBadEnvValue(t *testing.T) {
	t.Parallel()
	var c Serve
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.Register(fs)
	err := Parse(fs, nil, func(k string) string {
		if k == "VCSAUTH_DEV" {
			return "maybe"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "VCSAUTH_DEV") {
		t.Fatalf("err = %v", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		c  Serve
		ok bool
	}{
		{Serve{Store: Store{DataDir: "d"}, Listen: "127.0.0.1:8080"}, true},
		{Serve{Store: Store{Database: "postgres://x/y"}, Listen: ":0"}, true},
		{Serve{Store: Store{DataDir: "d", Database: "mysql://x"}, Listen: "127.0.0.1:8080"}, false},
		{Serve{Store: Store{DataDir: "d"}, Listen: "8080"}, false},
		{Serve{Store: Store{DataDir: "d"}, Listen: "127.0.0.1:1", ExternalURL: "ftp://x"}, false},
		{Serve{Store: Store{DataDir: "d"}, Listen: "127.0.0.1:1", ExternalURL: "https://x/y?z=1"}, false},
		{Serve{Store: Store{DataDir: "d"}, Listen: "127.0.0.1:1", ExternalURL: "https://vcs.example.com/"}, true},
		{Serve{Store: Store{DataDir: "d"}, Listen: "127.0.0.1:1", DebugListen: "127.0.0.1:6060"}, true},
		{Serve{Store: Store{DataDir: "d"}, Listen: "127.0.0.1:1", DebugListen: "6060"}, false},
		{Serve{Store: Store{DataDir: "d"}, Listen: "127.0.0.1:1", CacheTTL: MaxCacheTTL}, true},
		{Serve{Store: Store{DataDir: "d"}, Listen: "127.0.0.1:1", CacheTTL: MaxCacheTTL + 1}, false},
		{Serve{Store: Store{DataDir: "d"}, Listen: "127.0.0.1:1", CacheTTL: -1}, false},
	} {
		if err := tt.c.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v: err = %v, want ok=%v", tt.c, err, tt.ok)
		}
	}
}

// A password in a refused --external-url does not reach the message.
func TestExternalURLErrorHidesPassword(t *testing.T) {
	t.Parallel()
	_, err := ParseExternalURL("https://admin:hunter2@vcs.example.com/?x=1")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
}
