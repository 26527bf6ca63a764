package engine

import (
	"fmt"
	"regexp"
	"strconv"
)

// Canvas is the sequence being denoised: every position holds a token, the
// mask token where it is still hidden. Fixed positions (the prompt and the
// text around infill spans) are never masked and never change.
type Canvas struct {
	Tokens []int32
	Fixed  []bool
}

// Clone returns an independent copy.
func (c Canvas) Clone() Canvas {
	return Canvas{Tokens: append([]int32(nil), c.Tokens...), Fixed: append([]bool(nil), c.Fixed...)}
}

// Masked counts positions holding the mask token.
func (c Canvas) Masked(mask int32) int {
	n := 0
	for _, t := range c.Tokens {
		if t == mask {
			n++
		}
	}
	return n
}

// Encoder turns text into token ids (the project's tokenizer satisfies it).
type Encoder interface {
	Encode(text string) []int32
}

var maskSpan = regexp.MustCompile(`\[MASK(?::(\d+))?\]`)

// MaxSpan bounds one [MASK:n] span, so a typo cannot ask for a billion masks.
const MaxSpan = 1 << 20

// ParsePrompt builds a canvas from a prompt that may hold infill spans
// "[MASK:n]" (n masks) or "[MASK]" (one), followed by length masks to
// generate. Text segments are tokenized separately and fixed. The result
// must fit in maxLen positions.
func ParsePrompt(enc Encoder, prompt string, length int, mask int32, maxLen int) (Canvas, error) {
	if length < 0 {
		return Canvas{}, fmt.Errorf("length must not be negative, got %d", length)
	}
	var c Canvas
	addText := func(s string) {
		for _, id := range enc.Encode(s) {
			c.Tokens = append(c.Tokens, id)
			c.Fixed = append(c.Fixed, true)
		}
	}
	addMasks := func(n int) {
		for range n {
			c.Tokens = append(c.Tokens, mask)
			c.Fixed = append(c.Fixed, false)
		}
	}
	at := 0
	for _, m := range maskSpan.FindAllStringSubmatchIndex(prompt, -1) {
		addText(prompt[at:m[0]])
		n := 1
		if m[2] >= 0 {
			v, err := strconv.Atoi(prompt[m[2]:m[3]])
			if err != nil || v < 1 || v > MaxSpan {
				return Canvas{}, fmt.Errorf("prompt span %q: the count must be 1..%d", prompt[m[0]:m[1]], MaxSpan)
			}
			n = v
		}
		if len(c.Tokens)+n > maxLen {
			return Canvas{}, fmt.Errorf("prompt needs more than the model's %d positions", maxLen)
		}
		addMasks(n)
		at = m[1]
	}
	addText(prompt[at:])
	if len(c.Tokens)+length > maxLen {
		return Canvas{}, fmt.Errorf("prompt (%d tokens) plus length %d is longer than the model's context of %d", len(c.Tokens), length, maxLen)
	}
	addMasks(length)
	if len(c.Tokens) == 0 {
		return Canvas{}, fmt.Errorf("nothing to generate: empty prompt and length 0")
	}
	if c.Masked(mask) == 0 {
		return Canvas{}, fmt.Errorf("nothing to generate: the prompt has no [MASK:n] span and length is 0")
	}
	return c, nil
}
