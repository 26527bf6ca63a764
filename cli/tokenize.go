package cli

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	"diffuapriel/atomicfile"
	"diffuapriel/tokenizer"
)

// Token files are flat little-endian uint16 ids (GPT-2 ids fit), documents
// separated by the end-of-text id: the format train/ reads.

func runTokenize(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tokenize", flag.ContinueOnError)
	data := fs.String("data", "../shared/data/corpus-en", "`DIR` of .txt or .txt.gz corpora (documents separated by <|endoftext|> lines)")
	out := fs.String("out", "", "training token `FILE` to write (required)")
	valOut := fs.String("val-out", "", "validation token `FILE` to write (required)")
	valFrac := fs.Float64("val-fraction", 0.01, "fraction of each file's tokens, from its end, held out for validation")
	xWeight := fs.Float64("x-weight", 0.35, "fraction of the tokens kept (from the start) of files whose name starts with x_ (archaic register)")
	force := fs.Bool("force", false, "overwrite existing output files")
	if err := parseFlags(fs, args, stdout, "tokenize --data DIR --out FILE --val-out FILE [flags]"); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageError{fmt.Sprintf("unexpected argument %q (flags start with --)", fs.Arg(0))}
	case *out == "" || *valOut == "":
		return usageError{"--out and --val-out are required"}
	case !(*valFrac > 0 && *valFrac < 0.5):
		return usageError{"--val-fraction must be in (0, 0.5)"}
	case !(*xWeight >= 0 && *xWeight <= 1):
		return usageError{"--x-weight must be in [0, 1]"}
	}
	for _, p := range []string{*out, *valOut} {
		if err := atomicfile.Check(p, *force); err != nil {
			return err
		}
	}
	files, err := corpusFiles(*data)
	if err != nil {
		return err
	}
	tok, err := tokenizer.GPT2()
	if err != nil {
		return err
	}
	results := make([]corpusTokens, len(files))
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			keep := 1.0
			if strings.HasPrefix(filepath.Base(f), "x_") {
				keep = *xWeight
			}
			results[i], errs[i] = tokenizeCorpus(tok, f, *valFrac, keep)
		}()
	}
	wg.Wait()
	var train, val []uint16
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "file\tdocuments\ttrain tokens\tval tokens\t")
	for i, r := range results {
		if errs[i] != nil {
			return errs[i]
		}
		train = append(train, r.train...)
		val = append(val, r.val...)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", filepath.Base(files[i]), r.docs, len(r.train), len(r.val))
	}
	fmt.Fprintf(tw, "total\t\t%d\t%d\t\n", len(train), len(val))
	tw.Flush()
	if err := writeTokens(*out, train, *force); err != nil {
		return err
	}
	return writeTokens(*valOut, val, *force)
}

func corpusFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("corpus directory: %v", err)
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && (strings.HasSuffix(e.Name(), ".txt") || strings.HasSuffix(e.Name(), ".txt.gz")) {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("corpus directory %s holds no .txt or .txt.gz files", dir)
	}
	sort.Strings(files)
	return files, nil
}

type corpusTokens struct {
	train, val []uint16
	docs       int
}

// tokenizeCorpus encodes each document separately (encoding a whole file
// with separators in it is very slow), appending the end-of-text id, keeps
// the first `keep` fraction of the file's tokens and holds out the last
// valFrac of those for validation. Both cuts fall on token boundaries, so
// even a file that is one long document contributes to both splits.
func tokenizeCorpus(tok *tokenizer.Tokenizer, path string, valFrac, keep float64) (corpusTokens, error) {
	var res corpusTokens
	f, err := os.Open(path)
	if err != nil {
		return res, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return res, fmt.Errorf("%s: %v", path, err)
		}
		defer gz.Close()
		r = gz
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var doc []string
	var stream []uint16
	flush := func() {
		if len(doc) == 0 {
			return
		}
		for _, id := range tok.Encode(strings.Join(doc, "\n")) {
			stream = append(stream, uint16(id))
		}
		stream = append(stream, tokenizer.EndOfText)
		doc = doc[:0]
		res.docs++
	}
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "<|endoftext|>" {
			flush()
			continue
		}
		doc = append(doc, line)
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("%s: %v", path, err)
	}
	flush()
	stream = stream[:int(float64(len(stream))*keep)]
	cut := len(stream) - int(float64(len(stream))*valFrac)
	res.train, res.val = stream[:cut], stream[cut:]
	return res, nil
}

func writeTokens(path string, ids []uint16, force bool) error {
	return atomicfile.WriteFile(path, force, func(w io.Writer) error {
		return binary.Write(w, binary.LittleEndian, ids)
	})
}
