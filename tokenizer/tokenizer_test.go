package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func mustGPT2(t *testing.T) *Tokenizer {
	t.Helper()
	tok, err := GPT2()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestEncodeKnownIDs(t *testing.T) {
	tok := mustGPT2(t)
	// GPT-2 ids for "Hello world" are 15496 ("Hello") and 995 (" world").
	got := tok.Encode("Hello world")
	if len(got) != 2 || got[0] != 15496 || got[1] != 995 {
		t.Fatalf("Encode(Hello world) = %v, want [15496 995]", got)
	}
	// Special-token text is ordinary text, never id 50256.
	for _, id := range tok.Encode("<|endoftext|>") {
		if id == EndOfText {
			t.Fatal("ordinary encoder produced the end-of-text id")
		}
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	tok := mustGPT2(t)
	for _, s := range []string{"The cat sat on the mat.\n\tIndented line", "naïve café — 日本語 🙂"} {
		if got := tok.Decode(tok.Encode(s)); got != s {
			t.Errorf("round trip of %q gave %q", s, got)
		}
	}
}

func TestPiecesAttributeSplitCharactersToCompletingToken(t *testing.T) {
	tok := mustGPT2(t)
	ids := tok.Encode("🙂")
	if len(ids) < 2 {
		t.Skipf("emoji encoded as %d token(s); need a split character", len(ids))
	}
	pieces := tok.Pieces(ids)
	if strings.Join(pieces, "") != "🙂" {
		t.Fatalf("pieces %q do not join to the emoji", pieces)
	}
	if pieces[0] != "" || pieces[len(pieces)-1] != "🙂" {
		t.Fatalf("split character not shown on its last token: %q", pieces)
	}
}

func TestPiecesOfUnknownAndDanglingBytes(t *testing.T) {
	tok := mustGPT2(t)
	emoji := tok.Encode("🙂")
	// A partial character followed by an unknown id must not leak raw bytes.
	pieces := tok.Pieces([]int32{emoji[0], 50257})
	if pieces[1] != "<id 50257>" {
		t.Fatalf("unknown id rendered as %q", pieces[1])
	}
	for _, p := range pieces {
		if !utf8.ValidString(p) {
			t.Fatalf("invalid UTF-8 piece %q", p)
		}
	}
}

func TestSanitize(t *testing.T) {
	cases := map[string]string{
		"plain\ttext\n":                 "plain\ttext\n",
		"red \x1b[31mALERT\x1b[0m done": "red ALERT done",
		"title\x1b]0;pwned\x07 after":   "title after",
		"osc st \x1b]8;;http://x\x1b\\": "osc st ",
		"bell\x07 bs\x08 del\x7f":       "bell bs del",
		"c1 \u009b2J csi":               "c1  csi",
		"bidi \u202eevil\u202c":         "bidi evil",
		"bad \xff byte":                 "bad \uFFFD byte",
		"trailing esc \x1b":             "trailing esc ",
		"esc-c reset \x1bc":             "esc-c reset ",
	}
	for in, want := range cases {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"a\x1b[1;2mb", "\x1b]0;t\x07", "\u009b31m", "ok\n", "\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Sanitize(s)
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 out of %q", s)
		}
		for _, r := range out {
			if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r <= 0x9f) || isBidiControl(r) {
				t.Fatalf("control %U survived in %q", r, out)
			}
		}
	})
}
