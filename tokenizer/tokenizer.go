// Package tokenizer is the project's GPT-2 tokenizer: tiktoken-go's r50k_base
// encoding loaded from the offline asset bundle, so nothing is downloaded at
// run time. It also turns token bytes into text that is safe for a terminal.
package tokenizer

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	tiktoken "github.com/pkoukk/tiktoken-go"
	loader "github.com/pkoukk/tiktoken-go-loader"
)

// EndOfText is GPT-2's document separator token.
const EndOfText = 50256

// gpt2Vocab is the number of GPT-2 tokens (ids 0..50256).
const gpt2Vocab = 50257

// Tokenizer encodes text to GPT-2 ids and maps ids back to their bytes.
type Tokenizer struct {
	enc    *tiktoken.Tiktoken
	pieces [][]byte // id -> bytes
}

var (
	once   sync.Once
	shared *Tokenizer
	errGPT error
)

// GPT2 returns the process-wide GPT-2 tokenizer, built once from the
// offline assets.
func GPT2() (*Tokenizer, error) {
	once.Do(func() { shared, errGPT = build() })
	return shared, errGPT
}

func build() (*Tokenizer, error) {
	offline := loader.NewOfflineLoader()
	tiktoken.SetBpeLoader(offline)
	enc, err := tiktoken.GetEncoding("r50k_base")
	if err != nil {
		return nil, fmt.Errorf("tokenizer: loading GPT-2 encoding: %v", err)
	}
	ranks, err := offline.LoadTiktokenBpe("r50k_base.tiktoken")
	if err != nil {
		return nil, fmt.Errorf("tokenizer: loading GPT-2 ranks: %v", err)
	}
	pieces := make([][]byte, gpt2Vocab)
	for s, id := range ranks {
		if id >= 0 && id < gpt2Vocab {
			pieces[id] = []byte(s)
		}
	}
	pieces[EndOfText] = []byte("<|endoftext|>")
	for id, p := range pieces {
		if p == nil {
			return nil, fmt.Errorf("tokenizer: GPT-2 encoding has no bytes for token %d", id)
		}
	}
	return &Tokenizer{enc: enc, pieces: pieces}, nil
}

// Encode tokenizes text with the ordinary encoder: special-token text such
// as "<|endoftext|>" is encoded as plain text, never as the special id.
func (t *Tokenizer) Encode(text string) []int32 {
	ids := t.enc.EncodeOrdinary(text)
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out
}

// Vocab is the number of ids the tokenizer can decode.
func (t *Tokenizer) Vocab() int { return len(t.pieces) }

// Bytes returns the raw bytes of a token; nil for an id outside GPT-2.
func (t *Tokenizer) Bytes(id int32) []byte {
	if id < 0 || int(id) >= len(t.pieces) {
		return nil
	}
	return t.pieces[id]
}

// Pieces renders each token as terminal-safe text. A character whose UTF-8
// bytes are split across tokens is shown on the token that completes it, so
// concatenating the pieces gives the decoded text. Ids outside GPT-2 (the
// mask token, a padded id) render as "<id N>".
func (t *Tokenizer) Pieces(ids []int32) []string {
	out := make([]string, len(ids))
	var pending []byte
	for i, id := range ids {
		b := t.Bytes(id)
		if b == nil {
			pending = nil
			out[i] = "<id " + strconv.Itoa(int(id)) + ">"
			continue
		}
		pending = append(pending, b...)
		text, rest := completeRunes(pending)
		pending = rest
		out[i] = Sanitize(text)
	}
	return out
}

// Decode renders a whole sequence as terminal-safe text.
func (t *Tokenizer) Decode(ids []int32) string {
	return strings.Join(t.Pieces(ids), "")
}
