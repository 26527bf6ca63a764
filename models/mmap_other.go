//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package models

import (
	"errors"
	"os"
)

// mapFile is unavailable here; the loader falls back to reading the file.
func mapFile(*os.File, int) ([]byte, func() error, error) {
	return nil, nil, errors.New("memory mapping is not supported on this platform")
}
