package ui

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"diffuapriel/engine"
	"diffuapriel/models"
	"diffuapriel/models/demo"
)

// source is a model the playground can load: a built-in catalog entry or a
// checkpoint path given with --model.
type source struct {
	name string // shown in the model picker and the status bar
	path string // where it comes from, as a trace records it: a checkpoint path or "embedded:NAME"
	open func() (*models.Checkpoint, error)
}

func catalogSources() []source {
	var out []source
	for _, e := range demo.Catalog() {
		out = append(out, source{name: e.Name, path: "embedded:" + e.Name, open: e.Open})
	}
	return out
}

func pathSource(path string) source {
	return source{name: path, path: path, open: func() (*models.Checkpoint, error) { return models.Load(path) }}
}

// backendFactory opens a fresh backend; notice is a line for the status bar
// (e.g. why the CPU was chosen). It runs on the worker's goroutine.
type backendFactory func() (b engine.Backend, notice string, err error)

// Requests a worker accepts.
type (
	loadRequest struct{ src source }
	runRequest  struct {
		gen      int
		canvas   engine.Canvas
		opts     engine.Options
		seekStep int // scheduled steps already taken (resuming after steering)
		index    int // index of the first event this run emits
	}
)

// Messages a worker sends to the UI. Every run message carries the
// generation it belongs to, so the UI drops those of a superseded run.
type (
	loadProgressMsg struct {
		pane        int
		done, total int64
	}
	loadedMsg struct {
		pane     int
		cfg      *models.Config
		backend  string
		device   string
		notice   string
		memUsed  uint64
		memTotal uint64
		err      error
	}
	stepMsg struct {
		pane, gen         int
		ev                engine.StepEvent
		memUsed, memTotal uint64
	}
	runEndMsg struct {
		pane, gen int
		err       error // nil when the run finished or had nothing to do
	}
)

// worker owns one pane's Backend on a goroutine locked to one OS thread
// (CUDA contexts are per thread). The UI never waits on it: requests are
// queued and a queued request interrupts the running generation between
// steps.
type worker struct {
	pane       int
	newBackend backendFactory
	out        chan<- tea.Msg

	mu    sync.Mutex
	queue []any
	wake  chan struct{}
	stop  chan struct{}
	done  chan struct{}

	backend engine.Backend
	ckpt    *models.Checkpoint
	cfg     *models.Config
}

func startWorker(pane int, nb backendFactory, out chan<- tea.Msg) *worker {
	w := &worker{pane: pane, newBackend: nb, out: out,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	return w
}

// submit queues a request. A run supersedes queued runs; a load supersedes
// everything queued, since runs of the old model are meaningless after it.
func (w *worker) submit(req any) {
	w.mu.Lock()
	kept := w.queue[:0]
	for _, q := range w.queue {
		if _, isLoad := req.(loadRequest); isLoad {
			break
		}
		if _, isRun := q.(runRequest); !isRun {
			kept = append(kept, q)
		}
	}
	w.queue = append(kept, req)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// stopWorkers asks every worker to stop after its current step, then waits
// until they have released their backends or the grace period is over (a
// GPU step cannot be interrupted; the process is exiting anyway).
func stopWorkers(workers []*worker, grace time.Duration) {
	for _, w := range workers {
		close(w.stop)
	}
	deadline := time.After(grace)
	for _, w := range workers {
		select {
		case <-w.done:
		case <-deadline:
			return
		}
	}
}

func (w *worker) next() (any, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		return nil, false
	}
	req := w.queue[0]
	w.queue = w.queue[1:]
	return req, true
}

// interrupted reports whether the current job should stop: a newer request
// is queued or the playground is quitting.
func (w *worker) interrupted() bool {
	select {
	case <-w.stop:
		return true
	default:
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue) > 0
}

// emit delivers a message unless the playground is quitting.
func (w *worker) emit(msg tea.Msg) bool {
	select {
	case w.out <- msg:
		return true
	case <-w.stop:
		return false
	}
}

func (w *worker) loop() {
	runtime.LockOSThread()
	defer close(w.done)
	defer w.release()
	for {
		select {
		case <-w.stop:
			return
		case <-w.wake:
		}
		for {
			req, ok := w.next()
			if !ok {
				break
			}
			w.serve(req)
			select {
			case <-w.stop:
				return
			default:
			}
		}
	}
}

// serve handles one request. A panic in the engine becomes an error on
// screen instead of a crash that would leave the terminal in raw mode.
func (w *worker) serve(req any) {
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("engine failure: %v", r)
			switch req := req.(type) {
			case loadRequest:
				w.release()
				w.emit(loadedMsg{pane: w.pane, err: err})
			case runRequest:
				w.emit(runEndMsg{pane: w.pane, gen: req.gen, err: err})
			}
		}
	}()
	switch r := req.(type) {
	case loadRequest:
		w.load(r.src)
	case runRequest:
		w.run(r)
	}
}

func (w *worker) release() {
	if w.backend != nil {
		w.backend.Close()
		w.backend = nil
	}
	if w.ckpt != nil {
		w.ckpt.Close()
		w.ckpt = nil
	}
	w.cfg = nil
}

func (w *worker) load(src source) {
	w.release()
	msg := loadedMsg{pane: w.pane}
	ck, err := src.open()
	if err != nil {
		msg.err = err
		w.emit(msg)
		return
	}
	b, notice, err := w.newBackend()
	if err != nil {
		ck.Close()
		msg.err = err
		w.emit(msg)
		return
	}
	var last time.Time
	err = b.Load(ck.Weights, func(done, total int64) {
		// Throttled: a progress message per tensor would flood the UI.
		if now := time.Now(); now.Sub(last) >= 30*time.Millisecond || done == total {
			last = now
			w.emit(loadProgressMsg{pane: w.pane, done: done, total: total})
		}
	})
	if err != nil {
		b.Close()
		ck.Close()
		msg.err = fmt.Errorf("loading %s: %v", src.name, err)
		w.emit(msg)
		return
	}
	w.backend, w.ckpt, w.cfg = b, ck, ck.Config
	msg.cfg, msg.backend, msg.device, msg.notice = ck.Config, b.Name(), b.Device(), notice
	msg.memUsed, msg.memTotal = b.Memory()
	w.emit(msg)
}

func (w *worker) run(r runRequest) {
	if w.backend == nil {
		w.emit(runEndMsg{pane: w.pane, gen: r.gen, err: errors.New("no model loaded")})
		return
	}
	run, err := engine.NewRun(w.backend, w.cfg, r.canvas, r.opts)
	if err == nil {
		err = run.Seek(r.seekStep, r.index)
	}
	for err == nil && !run.Done() {
		if w.interrupted() {
			return
		}
		var ev engine.StepEvent
		ev, err = run.Step()
		if err != nil {
			break
		}
		used, total := w.backend.Memory()
		if !w.emit(stepMsg{pane: w.pane, gen: r.gen, ev: ev, memUsed: used, memTotal: total}) {
			return
		}
	}
	w.emit(runEndMsg{pane: w.pane, gen: r.gen, err: err})
}
