# diffuapriel: `make test` is what CI runs (.ci/run). GPU targets live in kernels.mk.
GO ?= go

.PHONY: build run test vet lint fuzz bench smoke tokens demo-media

build:
	$(GO) build -o bin/diffuapriel .

run:
	$(GO) run .

STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

# vet + staticcheck + unit tests; the tmux smoke test of the real binary runs when tmux exists.
test: vet lint
	$(GO) test ./...
	@if command -v tmux >/dev/null 2>&1 && [ -x scripts/tmux_smoke.sh ]; then scripts/tmux_smoke.sh; \
	else echo "tmux smoke test skipped: tmux not installed"; fi

vet:
	$(GO) vet ./...

lint:
	$(GO) run $(STATICCHECK) ./...

fuzz:
	$(GO) test ./models -run '^$$' -fuzz FuzzLoadBytes -fuzztime 5m -parallel 1

bench:
	$(GO) run . bench --backend cpu

# Token files for train/ (git-ignored .data/; the names train.py and device_run.sh read).
tokens:
	mkdir -p .data
	$(GO) run . tokenize --data ../shared/data/corpus-en --out .data/train.bin --val-out .data/val.bin --force

# The README's GIF and the docs' screenshots, from the real binary (VHS; docs/recording.md).
demo-media:
	scripts/demo_gif.sh

-include kernels.mk
