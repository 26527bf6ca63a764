package engine

import "fmt"

// Open returns the backend named by kind: "cpu", "gpu", or "auto" (the GPU
// when a device, driver and cuBLAS are usable, otherwise the CPU). For auto
// falling back to the CPU, notice says why in one line.
func Open(kind string) (b Backend, notice string, err error) {
	switch kind {
	case "cpu":
		return NewCPU(0), "", nil
	case "gpu":
		b, err := newGPU()
		if err != nil {
			return nil, "", err
		}
		return b, "", nil
	case "auto", "":
		b, err := newGPU()
		if err == nil {
			return b, "", nil
		}
		return NewCPU(0), fmt.Sprintf("using the CPU: %v", err), nil
	}
	return nil, "", fmt.Errorf("unknown backend %q (want auto, cpu or gpu)", kind)
}
