//go:build !cuda

package engine

import "errors"

// newGPU is the GPU backend's constructor; this build has none.
func newGPU() (Backend, error) {
	return nil, errors.New("GPU backend not built: this binary was built without -tags cuda (make gpu)")
}
