package secret

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestNewID(t *testing.T) {
	t.Parallel()
	rnd := newDetRand("ids")
	for _, prefix := range []string{"user", "org", "prj", "oc", "ot", "fs", "x_1"} {
		re := regexp.MustCompile(`^` + prefix + `-[0-9A-Za-z]{16}$`)
		seen := map[string]bool{}
		for range 500 {
			id, err := NewID(prefix, rnd)
			if err != nil {
				t.Fatal(err)
			}
			if !re.MatchString(id) || seen[id] {
				t.Fatalf("NewID(%q) = %q (duplicate: %v)", prefix, id, seen[id])
			}
			seen[id] = true
		}
	}
	for _, bad := range []string{"", "a-b", "a b", "ü", strings.Repeat("p", 17)} {
		if _, err := NewID(bad, nil); err == nil {
			t.Errorf("NewID(%q) succeeded", bad)
		}
	}
	if _, err := NewID("user", failRand{}); !errors.Is(err, errTestRand) {
		t.Errorf("failing source: %v", err)
	}
}

func TestNewClientID(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^[0-9a-z]{20}$`)
	rnd := newDetRand("client")
	for range 200 {
		id, err := NewClientID(rnd)
		if err != nil || !re.MatchString(id) {
			t.Fatalf("NewClientID = %q, %v", id, err)
		}
	}
	if _, err := NewClientID(failRand{}); err == nil {
		t.Error("failing source: no error")
	}
}

func TestNewUserCode(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)
	rnd := newDetRand("usercode")
	var counts [256]int
	for range 2000 {
		code, err := NewUserCode(rnd)
		if err != nil || !re.MatchString(code) {
			t.Fatalf("NewUserCode = %q, %v", code, err)
		}
		norm := NormalizeUserCode(code)
		if norm != strings.ReplaceAll(code, "-", "") {
			t.Fatalf("NormalizeUserCode(%q) = %q", code, norm)
		}
		if NormalizeUserCode(strings.ToLower(code)) != norm {
			t.Fatalf("lower case %q does not normalise", code)
		}
		for i := 0; i < len(norm); i++ {
			counts[norm[i]]++
		}
	}
	// Every letter of the alphabet turns up: 16000 draws, 800 expected each.
	for i := 0; i < len(userCodeAlphabet); i++ {
		if c := counts[userCodeAlphabet[i]]; c < 650 || c > 950 {
			t.Errorf("letter %c drawn %d times of 16000", userCodeAlphabet[i], c)
		}
	}
	// 240 is the first byte rejected (240 = 12·20).
	code, err := NewUserCode(&bytesRand{b: []byte{255, 240, 239}})
	if err != nil || code != "ZZZZ-ZZZZ" {
		t.Fatalf("NewUserCode = %q, %v", code, err)
	}
	if _, err := NewUserCode(failRand{}); err == nil {
		t.Error("failing source: no error")
	}
}

func TestNormalizeUserCode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"BCDF-GHJK":                          "BCDFGHJK",
		"bcdf-ghjk":                          "BCDFGHJK",
		"BcDf GhJk":                          "BCDFGHJK",
		"  bcdfghjk\t":                       "BCDFGHJK",
		"B-C-D-F-G-H-J-K":                    "BCDFGHJK",
		"":                                   "",
		"BCDF-GHJ":                           "",
		"BCDF-GHJKL":                         "",
		"ABCD-EFGH":                          "", // vowels are not in the alphabet
		"BCDF-GHJ1":                          "",
		"BCDF_GHJK":                          "",
		"BCDF-GHJſ":                          "", // U+017F upper-cases to S under Unicode rules
		"ＢCDF-GHJK":                          "",
		"BCDF-GHJK\x00":                      "",
		strings.Repeat("-", 100):             "",
		strings.Repeat("-", 30) + "BCDFGHJK": "",
	} {
		if got := NormalizeUserCode(in); got != want {
			t.Errorf("NormalizeUserCode(%q) = %q, want %q", in, got, want)
		}
	}
}
