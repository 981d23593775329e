//go:build focusllm_shared

package focusllm

// Shared linking (go build -tags focusllm_shared): libfocusllm.so from cargo's output
// folder, found at run time through an rpath to that folder. Copy the .so next to your
// program and use -Wl,-rpath,$ORIGIN (through CGO_LDFLAGS) to ship it elsewhere.

/*
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -lfocusllm -Wl,-rpath,${SRCDIR}/../../target/release
*/
import "C"
