//go:build cuda

package kernels

import (
	"embed"
	"fmt"
)

// ptxFS holds the CUDA kernels compiled to PTX by `make kernels`, one module
// per kernels/*.cu file and target architecture (ptx/<module>.sm_<arch>.ptx).
//
//go:embed ptx/*.ptx
var ptxFS embed.FS

// PTXArchs lists the architectures PTX is shipped for, newest first.
var PTXArchs = []int{90, 80}

// PTX returns the PTX text of a kernel module for the newest shipped
// architecture the device (compute capability major*10+minor) can run; the
// driver compiles it for the device when the module is loaded.
func PTX(module string, computeCapability int) (string, error) {
	for _, arch := range PTXArchs {
		if arch > computeCapability {
			continue
		}
		b, err := ptxFS.ReadFile(fmt.Sprintf("ptx/%s.sm_%d.ptx", module, arch))
		if err != nil {
			return "", fmt.Errorf("kernel module %q: %v", module, err)
		}
		return string(b), nil
	}
	return "", fmt.Errorf("kernel module %q: no PTX for compute capability %d.%d (need 8.0 or newer)",
		module, computeCapability/10, computeCapability%10)
}
