package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// completeRunes splits b into the text of its complete UTF-8 characters and
// a tail that may still be completed by the next token's bytes. Bytes that
// can never become valid UTF-8 are rendered as U+FFFD.
func completeRunes(b []byte) (string, []byte) {
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			if !utf8.FullRune(b) && len(b) < utf8.UTFMax {
				return sb.String(), append([]byte(nil), b...)
			}
			sb.WriteRune(utf8.RuneError)
			b = b[1:]
			continue
		}
		sb.Write(b[:size])
		b = b[size:]
	}
	return sb.String(), nil
}

// Sanitize makes untrusted model text safe to draw: it removes terminal
// escape sequences (CSI, OSC, DCS and other ESC forms), C0 and C1 control
// characters other than newline and tab, DEL, and Unicode bidirectional
// overrides that could reorder what a user sees. Invalid UTF-8 becomes U+FFFD.
func Sanitize(s string) string {
	var sb strings.Builder
	sb.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == 0x1b: // ESC: drop the whole sequence, not just the byte
			i += escapeLength(s[i:])
			continue
		case r == 0x9b: // C1 CSI
			i += size + csiBodyLength(s[i+size:])
			continue
		case r == '\n' || r == '\t':
			sb.WriteRune(r)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
		case isBidiControl(r):
		case r == utf8.RuneError && size == 1:
			sb.WriteRune(utf8.RuneError)
		default:
			sb.WriteString(s[i : i+size])
		}
		i += size
	}
	return sb.String()
}

// escapeLength is the byte length of the escape sequence starting at s[0]
// (ESC): CSI "ESC [" params final; OSC/DCS/APC/PM/SOS strings up to BEL or
// ST; otherwise ESC plus one following character.
func escapeLength(s string) int {
	if len(s) < 2 {
		return len(s)
	}
	switch s[1] {
	case '[':
		return 2 + csiBodyLength(s[2:])
	case ']', 'P', '_', '^', 'X':
		for j := 2; j < len(s); j++ {
			if s[j] == 0x07 {
				return j + 1
			}
			if s[j] == 0x1b && j+1 < len(s) && s[j+1] == '\\' {
				return j + 2
			}
		}
		return len(s)
	}
	_, size := utf8.DecodeRuneInString(s[1:])
	return 1 + size
}

// csiBodyLength is the length of CSI parameters and intermediates plus the
// final byte (0x40..0x7e); an unterminated sequence runs to the end.
func csiBodyLength(s string) int {
	for j := 0; j < len(s); j++ {
		if s[j] >= 0x40 && s[j] <= 0x7e {
			return j + 1
		}
		if s[j] < 0x20 || s[j] > 0x3f {
			return j // not a valid CSI byte: stop here, the rest is filtered normally
		}
	}
	return len(s)
}

func isBidiControl(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c
}
